"""The tonewatch program: command line, settings, pipeline wiring and (later) the daemon.

Owns: `cli` (argparse, exit codes, terminal output), `config` (TOML settings turned into
the frozen settings of `audio` and `alerts`, validated in one place), and `pipeline` (the
one driver that runs the same analysis on live and recorded audio).
"""

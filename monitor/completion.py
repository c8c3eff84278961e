"""Print a shell completion script for `tonewatch` (`tonewatch completion bash|zsh|tcsh`).

The script is generated from the command line's own parser by shtab, so it always offers
exactly the commands and options this version has. Install it once, for example:

    tonewatch completion bash > ~/.local/share/bash-completion/completions/tonewatch
    tonewatch completion zsh > "${fpath[1]}/_tonewatch"
"""

from __future__ import annotations

import argparse
import sys

SHELLS = ("bash", "zsh", "tcsh")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")


def run(args: argparse.Namespace) -> int:
    import shtab

    # The command line hands its parser over (`args.parser`): nothing imports monitor.cli.
    sys.stdout.write(shtab.complete(args.parser, shell=args.shell))
    return 0

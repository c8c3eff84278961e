"""The tonewatch program: command line, settings, pipeline wiring, daemon and QA tools.

Owns: `cli` (argparse, exit codes, terminal lines) and its subcommands `daemon` (`live`),
`devices`, `report`, `review`, `index`, `serve` and `batch` (split into `batch_inputs`,
`batch_task`, `batch_cluster`, `batch_index`); `qa_columns` (the QA columns of a call) and
`callindex` (the call index database); `config` (TOML settings turned into the frozen
settings of `audio` and `alerts`, validated in one place); `pipeline` and `session` (the one
driver and call loop that run the same analysis on live and recorded audio); `speech`
(snippets to transcripts to phrase alerts); `tracks`; `calllog` (a log split into calls);
and `view` (the agent's terminal view).
"""

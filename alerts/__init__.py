"""Alerts: what the agent is told, and where it goes.

Owns: the alert record and its JSON form (`model`), the detection rules that turn
per-speaker features into alerts (`settings` for their thresholds, `voice` for each
speaker's baseline and elevated state, `overlap` for interruptions, `engine` for the
detector that runs them and matching, `messages` for what the agent reads), phrase cues
(`cues`) and the durable JSON Lines alert log (`log`). What shows alerts on screen lives
in `monitor` (`view`, and plain lines in `cli`).
"""

"""Alerts: what the agent is told, and where it goes.

Owns: the alert record and its JSON form (`model`), the detection rules that turn
per-speaker features into alerts (`rules`), phrase cues (`cues`), the durable JSON Lines
alert log (`log`) and the sinks that show alerts to the agent (`sinks`).
"""

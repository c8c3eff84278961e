"""What the agent reads: severity, message template and tip of each acoustic alert kind.

Templates are formatted with the alert's numbers (`level`, `pitch`, `balance` and the like);
the engine picks the template, nothing else here decides anything.
"""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str, str]] = {
    # kind: (severity, message template, tip)
    "customer_raised": (
        "info",
        "Customer is speaking louder ({level:+.0f} dB).",
        "Stay even: keep your own volume and pace. A loud caller is not necessarily yelling.",
    ),
    "customer_yelling": (
        "warning",
        "Customer is yelling (pitch {pitch:+.1f} st, voice brighter {balance:+.1f} dB).",
        "Don't match it. Lower your pace, let them finish, then acknowledge: "
        '"I can hear how frustrating this is."',
    ),
    "agent_raised": (
        "warning",
        "Your voice is rising ({level:+.0f} dB over your normal).",
        "Bring your volume back down and slow your pace.",
    ),
    "agent_yelling": (
        "warning",  # critical only when unmistakable (alerts.engine)
        "You are raising your voice (pitch {pitch:+.1f} st, {level:+.0f} dB).",
        "Pause, breathe, and lower your voice before you answer.",
    ),
    "agent_matching": (
        "warning",
        "You are matching the customer's {what}.",
        "Stay below the customer's energy: lower your volume and pitch, slow down.",
    ),
    "agent_interrupting": (
        "warning",
        "You talked over the customer ({overlap:.1f} s overlap).",
        "Let them finish. Listen, then acknowledge before you answer.",
    ),
}


EFFORT_MESSAGES: dict[str, str] = {
    # A raised voice that is not louder but higher and brighter (effort at any level).
    "customer_raised": "Customer's voice is more energetic "
    "(pitch {pitch:+.1f} st, brighter {balance:+.1f} dB).",
    "agent_raised": "Your voice is rising in pitch and energy "
    "({pitch:+.1f} st, brighter {balance:+.1f} dB).",
}


LATE_PREFIX = "Earlier: "
"""Starts the message of an episode found late, once the speaker's calm voice was known."""

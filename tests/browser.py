"""How every test, screenshot script and benchmark starts Debian's chromium (never a
downloaded browser): the flags that keep it off the network and quiet in a sandbox-less,
GPU-less container."""

from __future__ import annotations

import shutil

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

"""The README's Python API example runs as written and prints the alert it promises."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT


def _example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_python_api_example_runs():
    proc = subprocess.run(
        [sys.executable, "-c", _example()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert any("customer_yelling" in line for line in lines), proc.stdout
    assert "'agent'" in lines[-1] and "'customer'" in lines[-1]  # the talk times

"""The shape of the code: the command line is a leaf, and the packages import without cycles.

A static scan reads every `import` in `monitor/`, `audio/` and `alerts/` (those inside
functions and `TYPE_CHECKING` blocks too, since a lazy import is still a dependency) and
checks the graph between the project's own modules; a child interpreter then imports each
module on its own, from nothing, so an import-time cycle would fail there as well.
"""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import ROOT

PACKAGES = ("monitor", "audio", "alerts")
LEAVES = {"monitor.cli", "monitor.__main__"}
"""Modules that may import the command line (it is the entry point, nothing else)."""


def _modules() -> dict[str, set[str]]:
    """Each project module and the project modules it imports."""
    graph: dict[str, set[str]] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).glob("*.py")):
            name = pkg if path.stem == "__init__" else f"{pkg}.{path.stem}"
            graph[name] = set()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    targets = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    # `from pkg import mod` names a module when `pkg.mod` is a file.
                    targets = [node.module]
                    targets += [
                        f"{node.module}.{a.name}"
                        for a in node.names
                        if (ROOT / node.module.replace(".", "/") / f"{a.name}.py").exists()
                    ]
                else:
                    continue
                graph[name] |= {t for t in targets if t.split(".")[0] in PACKAGES}
    for deps in graph.values():
        deps &= set(graph)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path of module names, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(mod: str) -> list[str] | None:
        state[mod] = 1
        path.append(mod)
        for dep in sorted(graph[mod]):
            if dep == mod:
                continue
            if state.get(dep) == 1:
                return path[path.index(dep) :] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[mod] = 2
        return None

    for mod in sorted(graph):
        if mod not in state:
            found = visit(mod)
            if found:
                return found
    return None


def test_scan_sees_the_imports() -> None:
    graph = _modules()
    # The scan itself works: known edges are there (a broken scan would pass everything).
    assert "monitor.pipeline" in graph["monitor.session"]
    assert "audio.types" in graph["audio.analyzer"]
    assert "monitor.cli" in graph["monitor.__main__"]


def test_nothing_imports_the_command_line() -> None:
    graph = _modules()
    users = sorted(m for m, deps in graph.items() if "monitor.cli" in deps and m not in LEAVES)
    assert users == [], f"these modules import monitor.cli: {users}"


def test_no_import_cycles() -> None:
    cycle = _cycle(_modules())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_audio_knows_nothing_of_alerts_or_monitor() -> None:
    graph = _modules()
    bad = {
        m: sorted(d for d in deps if not d.startswith("audio"))
        for m, deps in graph.items()
        if m.startswith("audio")
    }
    assert {m: d for m, d in bad.items() if d} == {}


def test_each_module_imports_on_its_own() -> None:
    code = (
        "import importlib, sys\n"
        f"mods = {sorted(set(_modules()) - {'monitor.__main__'})!r}\n"
        "for m in mods:\n"
        f"    for k in [k for k in sys.modules if k.split('.')[0] in {PACKAGES!r}]:\n"
        "        del sys.modules[k]\n"
        "    importlib.import_module(m)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]

"""The layout's boundaries: what each layer may import, and no import cycles."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "backend" / "markovlens"


def _numbers_script() -> Any:
    spec = importlib.util.spec_from_file_location(
        "architecture_numbers", ROOT / "scripts" / "architecture_numbers.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _markovlens_imports(path: Path) -> set[str]:
    """Every markovlens module a file imports, at any depth (function-local imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(n for n in names if n.split(".")[0] == "markovlens")
    return found


def _violations(package: str, allowed: tuple[str, ...]) -> dict[str, set[str]]:
    bad = {}
    for path in (PACKAGE / package).rglob("*.py"):
        outside = {m for m in _markovlens_imports(path) if not m.startswith(allowed)}
        if outside:
            bad[str(path.relative_to(ROOT))] = outside
    return bad


def test_analysis_imports_nothing_of_the_app() -> None:
    assert _violations("analysis", ("markovlens.analysis", "markovlens.schema")) == {}


def test_schema_imports_only_itself() -> None:
    assert _violations("schema", ("markovlens.schema",)) == {}


def test_the_checks_see_a_forbidden_import(tmp_path: Path) -> None:
    # The walker must find an import buried in a function, or the two tests above prove nothing.
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from markovlens.api.app import create_app\n")
    assert _markovlens_imports(bad) == {"markovlens.api.app"}


def test_no_import_cycles() -> None:
    numbers = _numbers_script()
    assert numbers.cycles(numbers.import_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    numbers = _numbers_script()
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert numbers.cycles(graph) == [["a", "b", "c"]]

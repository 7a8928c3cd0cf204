"""The numbers docs/architecture.md records: largest functions, import cycles, torch at start-up.

Run from the repository root: ``.venv/bin/python scripts/architecture_numbers.py``. Prints JSON.
Repeated-code pairs come from the separate ``duplicates`` tool (see docs/architecture.md).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "backend" / "markovlens"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def python_functions() -> list[tuple[int, str]]:
    """(lines, "path:name") of every Python function and method in the package."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                found.append((lines, f"{path.relative_to(ROOT)}:{node.name}"))
    return sorted(found, reverse=True)


_JS_START = re.compile(
    r"^\s*(?:export\s+)?(?:async\s+)?function\s+(\w+)"
    r"|^\s*(?:export\s+)?const\s+(\w+)\s*=\s*(?:async\s*)?\([^)]*\)\s*=>\s*\{"
)


def js_functions() -> list[tuple[int, str]]:
    """(lines, "path:name") of top-level-ish JS functions, measured by brace depth."""
    found = []
    for path in (ROOT / "frontend" / "js").rglob("*.js"):
        lines = path.read_text().splitlines()
        for start, line in enumerate(lines):
            match = _JS_START.match(line)
            if not match:
                continue
            depth, seen = 0, False
            for end in range(start, len(lines)):
                depth += lines[end].count("{") - lines[end].count("}")
                seen = seen or "{" in lines[end]
                if seen and depth <= 0:
                    break
            name = match.group(1) or match.group(2)
            found.append((end - start + 1, f"{path.relative_to(ROOT)}:{name}"))
    return sorted(found, reverse=True)


def import_graph() -> dict[str, set[str]]:
    """Module-level imports between the package's modules (function-local imports excluded)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.parse(path.read_text()).body:
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # ``from pkg import sub`` depends on the submodule; on the package only for names
                # defined in its __init__.
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    targets.append(sub if sub in modules else node.module)
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in graph:
        if node not in index:
            visit(node)
    return found


_STARTUP = """
import sys, tempfile
from markovlens.api.app import create_app
from markovlens.settings import Settings
create_app(Settings(data_dir=tempfile.mkdtemp(), embedded_worker=False))
print(sum(1 for m in sys.modules if m == "torch" or m.startswith("torch.")))
"""


def torch_modules_at_api_startup() -> int:
    command = [sys.executable, "-c", _STARTUP]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def main() -> None:
    graph = import_graph()
    report = {
        "largest_python_functions": python_functions()[:5],
        "largest_js_functions": js_functions()[:5],
        "import_cycles": cycles(graph),
        "torch_modules_at_api_startup": torch_modules_at_api_startup(),
        "python_modules": len(graph),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

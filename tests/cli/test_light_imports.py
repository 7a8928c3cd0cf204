"""The CLI's HTTP-only commands load neither torch nor the server stack (a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.cli.conftest import free_port

HEAVY = ("torch", "transformers", "fastapi", "sqlalchemy", "markovlens.api", "markovlens.store")

SCRIPT = """
import json, sys
from typer.testing import CliRunner
from markovlens.cli import app

server = sys.argv[1]
codes = {}
for args in (
    ["submit", "--model", "builtin:smollm2-135m", "--corpus", "builtin:python-docs"],
    ["jobs"], ["job", "1"], ["cancel", "1"], ["results", "1"],
):
    codes[args[0]] = CliRunner().invoke(app, [*args, "--server", server]).exit_code
heavy = [name for name in json.loads(sys.argv[2]) if name in sys.modules]
print(json.dumps({"codes": codes, "heavy": heavy}))
"""


def test_http_commands_import_no_torch_and_no_server() -> None:
    server = f"http://127.0.0.1:{free_port()}"  # nothing listens: every command fails to connect
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, server, json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["codes"] == {name: 1 for name in ("submit", "jobs", "job", "cancel", "results")}
    assert report["heavy"] == []

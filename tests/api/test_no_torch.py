"""The API and the CLI's HTTP-only commands never import torch (nor transformers).

Each check runs in a fresh interpreter: this test process has long imported torch.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

HEAVY = ("torch", "transformers")


def _run(code: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_api_serves_without_torch(tmp_path: Path) -> None:
    out = _run(
        f"""
        import sys
        from fastapi.testclient import TestClient
        from markovlens.api.app import create_app
        from markovlens.settings import Settings

        settings = Settings(
            data_dir={str(tmp_path / "data")!r}, embedded_worker=False,
            allowed_hosts=["testserver"],
        )
        with TestClient(create_app(settings)) as client:
            for path in ("/api/v1/health", "/openapi.json", "/api/v1/models",
                         "/api/v1/jobs", "/api/v1/results/1", "/api/v1/results/1/tokens"):
                client.get(path)
        print(sorted(m for m in {HEAVY!r} if m in sys.modules))
        """,
        tmp_path,
    )
    assert out.strip() == "[]"


def test_http_only_cli_commands_do_not_import_torch(tmp_path: Path) -> None:
    out = _run(
        """
        import sys
        from typer.testing import CliRunner
        from markovlens.cli import app

        runner = CliRunner()
        server = ["--server", "http://127.0.0.1:9"]  # nothing listens: a readable failure
        for args in (["--help"], ["jobs", "--help"], ["jobs", *server], ["job", "1", *server],
                     ["results", "1", *server], ["cancel", "1", *server], ["submit", "--help"]):
            result = runner.invoke(app, args)
            assert result.exit_code in (0, 1, 2), (args, result.output)
        print(sorted(m for m in ("torch", "transformers") if m in sys.modules))
        """,
        tmp_path,
    )
    assert out.strip() == "[]"

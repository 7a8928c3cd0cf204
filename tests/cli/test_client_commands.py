"""submit / jobs / job / cancel / results against a live server (no worker: jobs stay queued)."""

from __future__ import annotations

import json
from pathlib import Path

from markovlens.cli import app
from typer.testing import CliRunner

from tests.cli.conftest import free_port

runner = CliRunner()
MODEL = "builtin:smollm2-135m"
CORPUS = "builtin:python-docs"


def cli(*args: str, server: str) -> object:
    return runner.invoke(app, [*args, "--server", server])


def test_submit_list_show_cancel(live_server: object) -> None:
    server = live_server().url  # type: ignore[operator]
    submitted = cli("submit", "--model", MODEL, "--corpus", CORPUS, server=server)
    assert submitted.exit_code == 0, submitted.output
    assert "job 1 [queued]" in submitted.stdout

    listed = cli("jobs", server=server)
    assert listed.exit_code == 0 and "job 1 [queued]" in listed.stdout
    assert "1 of 1 jobs" in listed.stdout

    shown = cli("job", "1", server=server)
    assert shown.exit_code == 0 and MODEL in shown.stdout

    cancelled = cli("cancel", "1", server=server)
    assert cancelled.exit_code == 0 and "[cancelled]" in cancelled.stdout
    # A cancelled job's status is not success: exit 1.
    assert cli("job", "1", server=server).exit_code == 1
    again = cli("cancel", "1", server=server)
    assert again.exit_code == 2
    assert "HTTP 409" in again.stderr and "already finished" in again.stderr
    filtered = cli("jobs", "--status", "queued", server=server)
    assert "0 of 0 jobs" in filtered.stdout


def test_bad_input_exits_2_with_one_readable_line(live_server: object) -> None:
    server = live_server().url  # type: ignore[operator]
    bad_source = cli("submit", "--model", "ftp:x", "--corpus", CORPUS, server=server)
    assert bad_source.exit_code == 2
    assert "unknown scheme 'ftp'" in bad_source.stderr
    bad_set = cli("submit", "--model", MODEL, "--corpus", CORPUS, "--set", "oops", server=server)
    assert bad_set.exit_code == 2 and "key=value" in bad_set.stderr
    bad_config = cli(
        "submit", "--model", MODEL, "--corpus", CORPUS, "--set", "window_len=1", server=server
    )
    assert bad_config.exit_code == 2 and "window_len" in bad_config.stderr
    missing = cli("results", "9999", server=server)
    assert missing.exit_code == 2 and "no result with id 9999" in missing.stderr


def test_unreachable_server_is_a_readable_failure() -> None:
    result = cli("jobs", server=f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 1
    assert "cannot reach the markovlens server" in result.stderr


def test_server_url_comes_from_the_environment(live_server: object) -> None:
    server = live_server().url  # type: ignore[operator]
    result = runner.invoke(app, ["jobs"], env={"MARKOVLENS_SERVER": server})
    assert result.exit_code == 0 and "0 of 0 jobs" in result.stdout


def test_submit_wait_follows_to_success_and_results_export(
    live_server: object, tiny_model_dirs: dict[str, Path], tmp_path: Path
) -> None:
    model_dir = tiny_model_dirs["gpt2"]
    start = live_server
    server = start(embedded_worker=True, model_roots=[model_dir.parent]).url  # type: ignore[operator]
    overrides = [
        *("--set", "window_len=32", "--set", "max_tokens=512", "--set", "n_contexts=64"),
        *("--set", "bootstrap_samples=50", "--set", "run_surplus=false"),
        *("--set", "run_spectral=false"),
    ]
    args = ["submit", "--model", f"local:{model_dir}", "--corpus", CORPUS, *overrides, "--wait"]
    waited = cli(*args, server=server)
    assert waited.exit_code == 0, waited.output
    lines = waited.stdout.strip().splitlines()
    assert lines[-1].startswith("job 1 [succeeded] 100%") and "result 1" in lines[-1]

    csv_path = tmp_path / "r.csv"
    exported = cli("results", "1", "--out", str(csv_path), server=server)
    assert exported.exit_code == 0, exported.output
    assert "mean NLL" in exported.stdout
    assert "entropy.summary.mean_nll.estimate," in csv_path.read_text()
    json_path = tmp_path / "r.json"
    assert cli("results", "1", "--out", str(json_path), server=server).exit_code == 0
    assert json.loads(json_path.read_text())["entropy"]["summary"]["num_tokens"] == 16 * 31

"""End to end: ``markovlens serve --demo`` as a subprocess runs both SmolLM2 demo jobs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import free_port

MARKOVLENS = Path(sys.executable).with_name("markovlens")
DEMO_MODELS = {"builtin:smollm2-135m", "random-init:builtin:smollm2-135m"}


def start_server(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MARKOVLENS_DATA_DIR": str(data_dir)}
    with log.open("ab") as sink:
        return subprocess.Popen(
            [str(MARKOVLENS), "serve", "--port", str(port), "--demo"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown (stops the worker too)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, f"server exited: {log.read_text()[-3000:]}"
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"server never became healthy: {log.read_text()[-3000:]}")


def seconds(job: dict) -> float:
    started = datetime.fromisoformat(job["started_at"])
    return (datetime.fromisoformat(job["finished_at"]) - started).total_seconds()


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_serve_demo_runs_both_jobs_to_success(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "serve.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_server(data_dir, port, log)
    begun = time.monotonic()
    try:
        wait_healthy(base, process, log)
        assert "http://127.0.0.1" in log.read_text()
        deadline = time.monotonic() + 1400
        while True:
            jobs = httpx.get(f"{base}/api/v1/jobs", timeout=10).json()["items"]
            assert {job["model_source"] for job in jobs} == DEMO_MODELS
            if all(job["status"] in ("succeeded", "failed", "cancelled") for job in jobs):
                break
            assert time.monotonic() < deadline, f"demo jobs unfinished: {jobs}"
            time.sleep(2)
        failures = {job["model_source"]: job["error"] for job in jobs if job["error"]}
        assert [job["status"] for job in jobs] == ["succeeded", "succeeded"], failures
        total = time.monotonic() - begun
        for job in jobs:
            result = httpx.get(f"{base}/api/v1/results/{job['result_id']}", timeout=10).json()
            nll = result["result"]["entropy"]["summary"]["mean_nll"]["estimate"]
            print(f"demo job {job['model_source']}: {seconds(job):.1f} s, mean NLL {nll:.3f}")
        print(f"serve --demo until both jobs succeeded: {total:.1f} s")
        by_model = {job["model_source"]: job for job in jobs}
        trained_id = by_model["builtin:smollm2-135m"]["result_id"]
        trained = httpx.get(f"{base}/api/v1/results/{trained_id}")
        untrained_id = by_model["random-init:builtin:smollm2-135m"]["result_id"]
        untrained = httpx.get(f"{base}/api/v1/results/{untrained_id}")
        nll_trained = trained.json()["result"]["entropy"]["summary"]["mean_nll"]["estimate"]
        nll_random = untrained.json()["result"]["entropy"]["summary"]["mean_nll"]["estimate"]
        assert nll_trained < nll_random - 3  # training is worth several nats per token
        index = httpx.get(f"{base}/", timeout=10)
        assert index.status_code == 200 and "<html" in index.text.lower()
    finally:
        stop_server(process)

    # A second --demo on the same data dir finds the jobs and submits nothing new.
    process = start_server(data_dir, port, log)
    try:
        wait_healthy(base, process, log)
        assert httpx.get(f"{base}/api/v1/jobs", timeout=10).json()["total"] == 2
    finally:
        stop_server(process)

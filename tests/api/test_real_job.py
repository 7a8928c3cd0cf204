"""A real job on a tiny model, run by the embedded worker: result JSON, CSV, arrays, SSE, models."""

from __future__ import annotations

import csv
import io
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from markovlens.api import create_app

from tests.conftest import UI_HEADERS, build_settings

TERMINAL = {"succeeded", "failed", "cancelled"}
SMALL_CONFIG = {
    "window_len": 32,
    "max_tokens": 512,
    "bootstrap_samples": 50,
    "n_contexts": 64,
    # The API is under test, not the surplus/spectral suites (tested in tests/analysis).
    "run_surplus": False,
    "run_spectral": False,
}


def wait_terminal(client: TestClient, job_id: int, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] in TERMINAL:
            return job
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {job}")


def read_events(client: TestClient, job_id: int) -> list[tuple[str, dict]]:
    """(event, data) pairs of the SSE stream, read until the server closes it."""
    events: list[tuple[str, dict]] = []
    event = "message"
    with client.stream("GET", f"/api/v1/jobs/{job_id}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((event, json.loads(line.split(":", 1)[1])))
            elif not line:
                event = "message"
    return events


@pytest.fixture
def worker_client(
    tmp_path: Path, frontend_dir: Path, tiny_model_dirs: dict[str, Path]
) -> Iterator[TestClient]:
    root = tiny_model_dirs["llama"].parent
    settings = build_settings(tmp_path, embedded_worker=True, model_roots=[root])
    with TestClient(create_app(settings, frontend_dir=frontend_dir), headers=UI_HEADERS) as client:
        yield client


def test_real_job_end_to_end(worker_client: TestClient, tiny_model_dirs: dict[str, Path]) -> None:
    client = worker_client
    body = {
        "model": f"local:{tiny_model_dirs['llama']}",
        "corpus": "builtin:python-docs",
        "preset": "quick",
        "config": SMALL_CONFIG,
    }
    submitted = client.post("/api/v1/jobs", json=body)
    assert submitted.status_code == 201, submitted.text
    job_id = submitted.json()["id"]

    # The stream starts while the job is queued or running and ends on its own.
    events = read_events(client, job_id)
    messages = [data for event, data in events if event == "message"]
    assert messages[-1]["status"] == "succeeded"
    assert events[-1][0] == "end" and events[-1][1]["status"] == "succeeded"
    progress = [m["progress"] for m in messages]
    assert progress == sorted(progress) and progress[-1] == pytest.approx(1.0)
    assert all(a != b for a, b in itertools.pairwise(messages))  # changes only

    job = wait_terminal(client, job_id)
    assert job["status"] == "succeeded", job["error"]
    assert job["result_id"] is not None and job["finished_at"] is not None

    result = client.get(f"/api/v1/results/{job['result_id']}").json()
    assert (result["job_id"], result["model_id"]) == (job_id, job["model_id"])
    summary = result["result"]["entropy"]["summary"]
    assert summary["num_tokens"] == 16 * 31
    mean_nll = summary["mean_nll"]["estimate"]
    assert abs(mean_nll - np.log(384)) < 0.5  # random tiny model ≈ uniform over 384 tokens

    # CSV: the same numbers, flattened.
    csv_response = client.get(f"/api/v1/results/{job['result_id']}/csv")
    assert csv_response.headers["content-type"].startswith("text/csv")
    rows = dict(csv.reader(io.StringIO(csv_response.text)))
    assert float(rows["entropy.summary.mean_nll.estimate"]) == pytest.approx(mean_nll)
    assert float(rows["entropy.summary.num_tokens"]) == summary["num_tokens"]

    # Arrays: listed with shapes, fetched as JSON, consistent with the summary.
    arrays = client.get(f"/api/v1/results/{job['result_id']}/arrays").json()
    assert arrays["nll"]["dtype"] == "float32"
    assert int(np.prod(arrays["nll"]["shape"])) == summary["num_tokens"]
    nll = np.array(client.get(f"/api/v1/results/{job['result_id']}/arrays/nll").json())
    assert nll.mean() == pytest.approx(mean_nll, rel=1e-5)
    missing = client.get(f"/api/v1/results/{job['result_id']}/arrays/nope")
    assert missing.status_code == 404 and "nll" in missing.json()["detail"]

    # The model card was filled by the worker and shows the headline.
    model = client.get(f"/api/v1/models/{job['model_id']}").json()
    assert model["architecture"] and model["num_layers"] == 2 and model["hidden_size"] == 32
    [latest] = model["latest"]
    assert latest["result_id"] == job["result_id"]
    assert latest["headline"]["mean_nll"] == pytest.approx(mean_nll)

    compared = client.get(f"/api/v1/compare?result_ids={job['result_id']}").json()
    assert compared["items"][0]["model"]["id"] == job["model_id"]
    assert compared["items"][0]["result"]["id"] == job["result_id"]
    assert compared["items"][0]["headline"]["mean_nll"] == pytest.approx(mean_nll)
    assert compared["lifts"]["comparable"] is True

    # A finished job: cancel is a conflict, its stream is one state plus the end marker.
    assert client.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 409
    replay = read_events(client, job_id)
    assert [event for event, _ in replay] == ["message", "end"]

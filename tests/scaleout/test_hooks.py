"""The scale-out pieces wired into the app: /metrics on the API, routing at submission,
worker presence and job-scoped logs (in-process, SQLite; the cluster test covers processes)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markovlens.api import create_app
from markovlens.settings import Settings
from markovlens.store import open_database, repo_workers
from markovlens.worker.worker import Worker
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TEST_HOSTS, UI_HEADERS

CORPUS = "builtin:python-docs"


@pytest.fixture
def client_for(tmp_path: Path) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "embedded_worker": False,
            "allowed_hosts": TEST_HOSTS,
        }
        values.update(overrides)
        app = create_app(Settings(**values), frontend_dir=tmp_path)
        client = TestClient(app, headers=UI_HEADERS)
        clients.append(client)
        return client.__enter__()

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _submit(client: TestClient, model: str, **body: Any) -> Any:
    payload = {"model": model, "corpus": CORPUS, "preset": "quick", **body}
    return client.post("/api/v1/jobs", json=payload)


def test_metrics_endpoint_on_the_api(client_for: Any, tiny_model_dirs: dict[str, Path]) -> None:
    directory = tiny_model_dirs["llama"]
    client = client_for(model_roots=[directory.parent])
    assert _submit(client, f"local:{directory}").status_code == 201
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f.samples for f in text_string_to_metric_families(response.text)}
    queued = [
        s.value
        for s in families["markovlens_jobs"]
        if s.labels == {"status": "queued", "queue": "cpu"}
    ]
    assert queued == [1.0]
    assert [s.value for s in families["markovlens_queue_depth"]] == [1.0]


def test_routing_at_submission(client_for: Any, tiny_model_dirs: dict[str, Path]) -> None:
    directory = tiny_model_dirs["llama"]
    client = client_for(
        model_roots=[directory.parent], device_classes=["small=cpu:1GiB", "gpu=cuda:24GiB"]
    )
    routed = _submit(client, f"local:{directory}")
    assert routed.status_code == 201, routed.text
    assert routed.json()["queue"] == "gpu"  # accelerators first
    # 1 GiB of workspace alone exceeds "small": refused with the estimate.
    refused = _submit(client, f"local:{directory}", queue="small", force=True)
    assert refused.status_code == 422
    assert "queue 'small' cannot hold this model" in refused.json()["detail"]
    assert "GiB in float32" in refused.json()["detail"]
    unknown = _submit(client, f"local:{directory}", queue="tpu", force=True)
    assert unknown.status_code == 422 and "unknown queue 'tpu'" in unknown.json()["detail"]
    big = client_for(
        data_dir=Path(client.app.state.settings.data_dir) / "b",  # type: ignore[attr-defined]
        device_classes=["cpu=cpu:1GiB"],
    )
    too_big = _submit(big, "builtin:smollm2-135m")
    assert too_big.status_code == 422
    assert "no worker class can hold this model: 134,515,008 parameters" in too_big.json()["detail"]


def test_worker_advertises_itself_and_logs_with_job_ids(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        queue_url=f"sqlite:///{tmp_path / 'queue.db'}",
        device="cpu",
        worker_memory_gb=5,
        heartbeat_seconds=0.2,
        reaper_interval_seconds=0.2,
    )
    db = open_database(settings.resolved_database_url)
    worker = Worker(settings, ["cpu", "gpu"], db=db, reaper_enabled=False).start()
    try:
        with db.session() as session:
            (row,) = repo_workers.list_workers(session)
        assert row.id == worker.worker_id
        assert (row.queues, row.device, row.memory_bytes) == (["cpu", "gpu"], "cpu", 5 << 30)
        # A job id the worker cannot claim still runs through the job-scoped executor.
        caplog.set_level(logging.INFO, logger="markovlens")
        worker._execute(12345)
        records = [r for r in caplog.records if "12345" in r.getMessage()]
        assert records
    finally:
        worker.stop(drain_seconds=0)
    with db.session() as session:
        assert repo_workers.list_workers(session)[0].status == "stopped"
    db.dispose()

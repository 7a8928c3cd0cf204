"""Worker presence, /metrics exposition and structured logs."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from markovlens.ops.logging import JsonFormatter, job_context
from markovlens.ops.metrics import render_metrics
from markovlens.settings import Settings
from markovlens.store import Database, open_database, repo_workers
from markovlens.store.tables import Corpus, Job, Model, utcnow
from markovlens.worker.presence import Presence, detect_hardware, host_memory_bytes
from markovlens.worker.queue import enqueue_job, flush_queue
from prometheus_client.parser import text_string_to_metric_families

GIB = 1 << 30


@pytest.fixture
def db(tmp_path: Path):
    database = open_database(f"sqlite:///{tmp_path / 'm.db'}")
    yield database
    database.dispose()


def _settings(tmp_path: Path, **kw: object) -> Settings:
    values: dict[str, object] = {"data_dir": tmp_path, "queue_url": "memory://", **kw}
    return Settings(**values)  # type: ignore[arg-type]


def test_detect_hardware_on_this_cpu_machine(tmp_path: Path) -> None:
    hardware = detect_hardware(_settings(tmp_path, device="cpu"))
    assert hardware.device == "cpu" and hardware.gpu_count == 0
    assert hardware.memory_bytes == host_memory_bytes() > GIB
    override = detect_hardware(_settings(tmp_path, device="cpu", worker_memory_gb=3))
    assert override.memory_bytes == 3 * GIB


def test_presence_registers_heartbeats_and_stops(tmp_path: Path, db: Database) -> None:
    settings = _settings(tmp_path, device="cpu", worker_memory_gb=2, heartbeat_seconds=0.2)
    presence = Presence(db, settings, "host:1:abc", ["cpu", "gpu"]).start()
    with db.session() as session:
        (row,) = repo_workers.list_workers(session)
        first_beat = row.heartbeat_at
        assert (row.queues, row.device, row.memory_bytes, row.status) == (
            ["cpu", "gpu"],
            "cpu",
            2 * GIB,
            "idle",
        )
    presence.job_started(42)
    with db.session() as session:
        row = repo_workers.list_workers(session)[0]
        assert (row.status, row.current_job_id) == ("busy", 42)
        assert row.heartbeat_at >= first_beat
    presence.job_finished()
    presence.stop()
    with db.session() as session:
        row = repo_workers.list_workers(session)[0]
        assert (row.status, row.current_job_id, row.jobs_done) == ("stopped", None, 1)
        assert repo_workers.live_workers(session, timedelta(minutes=1)) == []
        # A day-old silent row is pruned when a worker registers; a fresh one stays.
        assert repo_workers.prune(session, timedelta(days=1)) == 0
        assert repo_workers.prune(session, timedelta(days=1), now=utcnow() + timedelta(days=2)) == 1


def _add_job(db: Database, status: str, queue: str, seconds: float | None) -> None:
    with db.session() as session:
        model = session.query(Model).first() or Model(source="m", revision="")
        corpus = session.query(Corpus).first() or Corpus(source="builtin:python-docs")
        now = utcnow()
        session.add(
            Job(
                model_id=_flush(session, model).id,
                corpus_id=_flush(session, corpus).id,
                model_source="m",
                corpus_source="builtin:python-docs",
                preset="quick",
                config={},
                dedupe_key="k",
                queue=queue,
                status=status,
                started_at=None if seconds is None else now - timedelta(seconds=seconds),
                finished_at=None if seconds is None else now,
            )
        )
        session.commit()


def _flush(session, row):  # type: ignore[no-untyped-def]
    session.add(row)
    session.flush()
    return row


def _families(text: str) -> dict[str, list]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_metrics_exposition(tmp_path: Path, db: Database) -> None:
    settings = _settings(tmp_path, worker_seen_seconds=60)
    _add_job(db, "succeeded", "cpu", 3.0)
    _add_job(db, "succeeded", "cpu", 100.0)
    _add_job(db, "failed", "gpu", 20.0)
    _add_job(db, "queued", "gpu", None)
    _add_job(db, "queued", "gpu", None)
    presence = Presence(db, _settings(tmp_path, device="cpu", worker_memory_gb=1), "w1", ["cpu"])
    presence.start()
    flush_queue(settings.resolved_queue_url, "gpu")
    enqueue_job(settings.resolved_queue_url, "gpu", 4)
    enqueue_job(settings.resolved_queue_url, "gpu", 5)
    try:
        families = _families(render_metrics(db, settings).decode())
    finally:
        presence.stop()
        flush_queue(settings.resolved_queue_url, "gpu")

    jobs = {(s.labels["queue"], s.labels["status"]): s.value for s in families["markovlens_jobs"]}
    assert jobs[("cpu", "succeeded")] == 2 and jobs[("gpu", "queued")] == 2
    assert jobs[("gpu", "failed")] == 1 and jobs[("cpu", "running")] == 0

    durations = {
        (s.name, s.labels["queue"], s.labels["status"], s.labels.get("le")): s.value
        for s in families["markovlens_job_duration_seconds"]
    }
    assert durations[("markovlens_job_duration_seconds_count", "cpu", "succeeded", None)] == 2
    assert durations[("markovlens_job_duration_seconds_bucket", "cpu", "succeeded", "5.0")] == 1
    assert durations[("markovlens_job_duration_seconds_bucket", "cpu", "succeeded", "120.0")] == 2
    total = durations[("markovlens_job_duration_seconds_sum", "cpu", "succeeded", None)]
    assert total == pytest.approx(103.0, abs=0.5)

    depth = {s.labels["queue"]: s.value for s in families["markovlens_queue_depth"]}
    assert depth == {"cpu": 0.0, "gpu": 2.0}
    (up,) = families["markovlens_worker_up"]
    assert up.labels["worker"] == "w1" and up.labels["queues"] == "cpu" and up.value == 1.0
    (beat,) = families["markovlens_worker_heartbeat_timestamp_seconds"]
    assert abs(beat.value - utcnow().timestamp()) < 60
    (memory,) = families["markovlens_worker_memory_bytes"]
    assert memory.value == GIB


def test_metrics_survive_an_unreachable_queue(tmp_path: Path, db: Database) -> None:
    settings = _settings(tmp_path, queue_url="redis://127.0.0.1:1/0")  # nothing listens
    _add_job(db, "queued", "cpu", None)
    families = _families(render_metrics(db, settings).decode())
    assert [s.value for s in families["markovlens_queue_up"]] == [0.0]
    assert "markovlens_jobs" in families


def _log_lines(fn) -> list[dict]:  # type: ignore[no-untyped-def]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("markovlens.test.structured")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        fn(logger)
    finally:
        logger.removeHandler(handler)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_structured_logs_carry_job_and_worker_ids() -> None:
    def emit(logger: logging.Logger) -> None:
        logger.info("plain line")
        with job_context(7, "host:1:w"):
            logger.info("inside a job")
        logger.warning("job %s: lease expired", 12)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("failed")

    plain, inside, by_message, failed = _log_lines(emit)
    assert "job_id" not in plain and plain["message"] == "plain line"
    assert (inside["job_id"], inside["worker_id"]) == (7, "host:1:w")
    assert by_message["job_id"] == 12 and by_message["level"] == "warning"
    assert "RuntimeError: boom" in failed["exc"]
    assert {"ts", "logger", "process"} <= set(plain)


def test_migrate_module_brings_the_database_to_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from markovlens.ops import run_migrations
    from markovlens.settings import get_settings
    from markovlens.store.migrate import current_revision, head_revision
    from sqlalchemy import create_engine

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("MARKOVLENS_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        assert run_migrations.main() == 0
    finally:
        get_settings.cache_clear()
        logging.getLogger().handlers[:] = [
            h for h in logging.getLogger().handlers if h.get_name() != "markovlens-structured"
        ]
    engine = create_engine(url)
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision() == "0002"
    engine.dispose()

"""Huey transport on SQLite and Redis: named queues carry job ids to the thread's executor."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from markovlens.worker import queue

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(
    params=[pytest.param("sqlite", id="sqlite"), pytest.param("redis", marks=pytest.mark.redis)]
)
def queue_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'q.db'}" if request.param == "sqlite" else REDIS_URL


@pytest.fixture
def names(queue_url: str) -> Iterator[tuple[str, str]]:
    """Two unique queue names (parallel runs on the shared Redis never see each other)."""
    tag = uuid.uuid4().hex[:8]
    pair = (f"cpu-{tag}", f"gpu-{tag}")
    yield pair
    for name in pair:
        queue.flush_queue(queue_url, name)


def test_named_queues_are_separate_and_fifo(queue_url: str, names: tuple[str, str]) -> None:
    cpu, gpu = names
    for job_id in (3, 1, 2):
        queue.enqueue_job(queue_url, cpu, job_id)
    queue.enqueue_job(queue_url, gpu, 9)
    assert queue.pending_count(queue_url, cpu) == 3
    assert queue.pending_count(queue_url, gpu) == 1
    huey = queue.get_huey(queue_url, cpu)
    assert huey.name == f"markovlens-{cpu}"
    seen: list[int] = []
    queue.set_executor(seen.append)
    try:
        while (task := queue.dequeue(huey)) is not None:
            huey.execute(task)
    finally:
        queue.set_executor(None)
    assert seen == [3, 1, 2]
    assert queue.pending_count(queue_url, gpu) == 1


def test_unsupported_queue_url_is_rejected() -> None:
    with pytest.raises(ValueError, match="unsupported queue URL"):
        queue.get_huey("amqp://broker", "cpu")


@pytest.mark.redis
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_worker_runs_jobs_from_redis(tmp_path: Path, db_url: str) -> None:
    """The whole path over Redis: submit → RedisHuey → worker claims → child → result row."""
    from markovlens.store import open_database
    from markovlens.worker.worker import Worker

    from tests.worker.child_targets import succeeds_after_2s
    from tests.worker.conftest import make_settings
    from tests.worker.helpers import submit, wait_status

    name = f"gpu-{uuid.uuid4().hex[:8]}"
    settings = make_settings(tmp_path, db_url, queue_url=REDIS_URL, worker_queues=[name])
    db = open_database(db_url)
    worker = Worker(settings, [name], db=db, child_target=succeeds_after_2s).start()
    try:
        job_id = submit(db, settings, "local:/fake", queue=name)
        job = wait_status(db, job_id, {"succeeded", "failed"}, timeout=60)
        assert job.status == "succeeded" and job.queue == name and job.result_id is not None
    finally:
        worker.stop(drain_seconds=0)
        queue.flush_queue(REDIS_URL, name)
        db.dispose()

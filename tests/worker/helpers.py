"""Helpers of the job life-cycle tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psutil
from markovlens.service import catalog, submission
from markovlens.service.schemas import JobOut, SubmitRequest
from markovlens.settings import Settings
from markovlens.store import Database, open_database
from markovlens.worker.worker import Worker

T = TypeVar("T")

# Small and fast on the tiny models: forward pass and entropy only.
FAST_CONFIG: dict[str, object] = {
    "window_len": 64,
    "max_tokens": 1024,
    "n_contexts": 64,
    "run_surplus": False,
    "run_spectral": False,
    "bootstrap_samples": 50,
}


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def submit(db: Database, settings: Settings, model: str, **kw: object) -> int:
    values: dict[str, object] = {
        "model": model,
        "corpus": "builtin:python-docs",
        "preset": "quick",
        "config": FAST_CONFIG,
    }
    values.update(kw)
    with db.session() as s:
        return submission.submit_job(s, SubmitRequest(**values), settings=settings).id  # type: ignore[arg-type]


def job_state(db: Database, job_id: int) -> JobOut:
    with db.session() as s:
        return catalog.job_out(s, catalog.get_job(s, job_id))


def wait_status(db: Database, job_id: int, statuses: set[str], timeout: float) -> JobOut:
    return wait_for(
        lambda: (job := job_state(db, job_id)).status in statuses and job,
        timeout,
        f"job {job_id} to reach {sorted(statuses)}",
    )


@contextmanager
def running_worker(
    settings: Settings, queues: tuple[str, ...] = ("cpu",), **kw: Any
) -> Iterator[tuple[Database, Worker]]:
    """A started worker on its own database handle; stopped without drain, handle disposed."""
    db = open_database(settings.resolved_database_url)
    worker = Worker(settings, list(queues), db=db, **kw).start()
    try:
        yield db, worker
    finally:
        worker.stop(drain_seconds=0)
        db.dispose()


def cancel_at_stage(db: Database, settings: Settings, stage: str, timeout: float) -> JobOut:
    """Submit ``local:/<stage>``, cancel it once its child reports ``stage``, wait for the end."""
    job_id = submit(db, settings, f"local:/{stage}")
    wait_for(lambda: job_state(db, job_id).stage == stage, 60, f"the child to report {stage!r}")
    with db.session() as s:
        submission.cancel_job(s, job_id)
    return wait_status(db, job_id, {"cancelled"}, timeout=timeout)


def job_children(pid: int) -> list[psutil.Process]:
    """Live spawned job children of ``pid`` (not the spawn resource tracker, not zombies, not
    other subprocesses a test session may hold, such as a server)."""
    found = []
    for kid in psutil.Process(pid).children(recursive=True):
        try:
            if kid.status() == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(kid.cmdline())
            if "spawn_main" in cmdline and "resource_tracker" not in cmdline:
                found.append(kid)
        except psutil.Error:  # exited while we looked
            continue
    return found

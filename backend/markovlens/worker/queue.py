"""Huey transport: one Huey instance per named queue, one task ``run_job(job_id)``.

The queue only carries job ids; the ``jobs`` row is the truth. A lost or duplicated message
is harmless: the reaper re-enqueues lost jobs and a duplicate loses the atomic claim.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey
from huey.api import Task, TaskWrapper

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "cpu"
TASK_NAME = "run_job"

_lock = threading.Lock()
_hueys: dict[tuple[str, str], Huey] = {}
_tasks: dict[tuple[str, str], TaskWrapper] = {}

# The consumer thread running a task installs its executor here, so the Huey task body
# reaches the worker's context (worker id, database, stop flags) without globals per process.
_context = threading.local()


def huey_name(queue: str) -> str:
    return f"markovlens-{queue}"


def _build_huey(queue_url: str, queue: str) -> Huey:
    name = huey_name(queue)
    if queue_url.startswith("redis://") or queue_url.startswith("rediss://"):
        return RedisHuey(name, url=queue_url, results=False)
    if queue_url.startswith("sqlite:///"):
        path = Path(queue_url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        # Huey's sqlite storage serialises writers with its own BEGIN EXCLUSIVE + timeout.
        return SqliteHuey(name, filename=str(path), results=False, timeout=30)
    if queue_url.startswith("memory://"):
        return MemoryHuey(name, results=False)
    raise ValueError(
        f"unsupported queue URL {queue_url!r}: use redis://host:port/db or sqlite:///path"
    )


def get_huey(queue_url: str, queue: str = DEFAULT_QUEUE) -> Huey:
    """The (cached) Huey instance of ``queue`` on ``queue_url``, with ``run_job`` registered."""
    key = (queue_url, queue)
    with _lock:
        huey = _hueys.get(key)
        if huey is None:
            huey = _build_huey(queue_url, queue)
            _tasks[key] = huey.task(name=TASK_NAME)(run_job)
            _hueys[key] = huey
        return huey


def enqueue_job(queue_url: str, queue: str, job_id: int) -> None:
    """Put ``job_id`` on ``queue``'s transport."""
    huey = get_huey(queue_url, queue)
    huey.enqueue(_tasks[(queue_url, queue)].s(int(job_id)))
    log.info("job %s: enqueued on %s", job_id, huey_name(queue))


def dequeue(huey: Huey) -> Task | None:
    """The next message of ``huey`` or None (Redis blocks up to ~1 s; SQLite returns at once)."""
    return huey.dequeue()


def pending_count(queue_url: str, queue: str) -> int:
    return int(get_huey(queue_url, queue).pending_count())


def flush_queue(queue_url: str, queue: str) -> None:
    """Drop every message of ``queue`` (tests and admin only)."""
    get_huey(queue_url, queue).flush()


def set_executor(executor: Callable[[int], None] | None) -> None:
    """Install the calling thread's job executor (None removes it)."""
    _context.executor = executor


def run_job(job_id: int) -> None:
    """The Huey task: run ``job_id`` with the executor of the consuming thread.

    Only a markovlens worker consumes these queues (``Worker`` installs its executor); a
    message reaching another consumer fails loudly here instead of running without leases.
    """
    executor: Callable[[int], None] | None = getattr(_context, "executor", None)
    if executor is None:
        raise RuntimeError(
            f"job {job_id}: run_job called outside a markovlens worker (no executor installed)"
        )
    executor(int(job_id))

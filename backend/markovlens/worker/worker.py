"""Workers: Huey consumer thread(s) plus the reaper thread, standalone or inside the API.

``run_worker`` blocks (the ``markovlens worker`` command) and stops gracefully on SIGINT or
SIGTERM: it stops claiming, lets the running job finish for ``drain_seconds``, then requeues
it (a second signal requeues at once). ``start_embedded`` runs the same threads inside the API
process and returns a handle whose ``stop()`` does the same.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import timedelta
from types import FrameType

from huey import Huey

from markovlens.ops.logging import bind_worker, configure_logging, job_context
from markovlens.settings import Settings
from markovlens.store import Database, open_database
from markovlens.worker import reaper
from markovlens.worker.child import child_main
from markovlens.worker.presence import Presence
from markovlens.worker.queue import enqueue_job, get_huey, huey_name, pending_count, set_executor
from markovlens.worker.runner import ChildTarget, JobRunner, new_worker_id

log = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 0.5
DEFAULT_DRAIN_SECONDS = 30.0


class Worker:
    """Consumer thread(s) claiming jobs from ``queues`` (in priority order) and a reaper."""

    def __init__(
        self,
        settings: Settings,
        queues: list[str] | None = None,
        *,
        db: Database | None = None,
        concurrency: int = 1,
        reaper_enabled: bool = True,
        child_target: ChildTarget = child_main,
    ) -> None:
        self.settings = settings
        self.queues = list(queues or settings.worker_queues or ["cpu"])
        self.db = db or open_database(settings.resolved_database_url)
        self._owns_db = db is None
        self.worker_id = new_worker_id()
        self.stopping = threading.Event()  # stop claiming new jobs
        self.abandon = threading.Event()  # requeue the running job now
        self.runner = JobRunner(
            self.db,
            settings,
            self.worker_id,
            abandon=self.abandon,
            child_target=child_target,
            requeue=self._enqueue,
        )
        # Advertises device, memory and queues in the workers table; heartbeats it.
        self.presence = Presence(self.db, settings, self.worker_id, self.queues)
        self._threads: list[threading.Thread] = []
        self._reaper_thread: threading.Thread | None = None
        self._concurrency = max(1, concurrency)
        self._reaper_enabled = reaper_enabled

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Worker:
        try:
            self.presence.start()
        except Exception:  # routing and /metrics lose this worker; jobs still run
            log.exception("worker %s: could not advertise itself", self.worker_id)
        for i in range(self._concurrency):
            thread = threading.Thread(
                target=self._consume, name=f"markovlens-consumer-{i}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        if self._reaper_enabled:
            self._reaper_thread = threading.Thread(
                target=self._reap_loop, name="markovlens-reaper", daemon=True
            )
            self._reaper_thread.start()
        log.info("worker %s: consuming %s", self.worker_id, ", ".join(map(huey_name, self.queues)))
        return self

    def stop(self, drain_seconds: float = DEFAULT_DRAIN_SECONDS) -> None:
        """Stop claiming; wait up to ``drain_seconds`` for running jobs, then requeue them."""
        self.stopping.set()
        deadline = time.monotonic() + max(0.0, drain_seconds)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads):
            self.abandon.set()
            for thread in self._threads:
                thread.join()
        if self._reaper_thread is not None:
            self._reaper_thread.join()
        self.presence.stop()
        if self._owns_db:
            self.db.dispose()
        log.info("worker %s: stopped", self.worker_id)

    @property
    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    # -- threads -----------------------------------------------------------------------------
    def _consume(self) -> None:
        bind_worker(self.worker_id)
        set_executor(self._execute)
        hueys = [get_huey(self.settings.resolved_queue_url, queue) for queue in self.queues]
        try:
            while not self.stopping.is_set():
                if not self._consume_one(hueys):
                    self.stopping.wait(IDLE_POLL_SECONDS)
        finally:
            set_executor(None)

    def _execute(self, job_id: int) -> None:
        """Run one job with its id on every log line and in the worker's heartbeat."""
        with job_context(job_id, self.worker_id):
            self.presence.job_started(job_id)
            outcome = "error"
            try:
                outcome = self.runner.run(job_id)
            finally:
                self.presence.job_finished(counted=outcome not in ("skipped", "error"))

    def _consume_one(self, hueys: list[Huey]) -> bool:
        """Run the first message of the highest-priority non-empty queue; False if all empty."""
        for huey in hueys:
            try:
                task = huey.dequeue()
            except Exception:
                log.exception("worker %s: reading %s failed", self.worker_id, huey.name)
                continue
            if task is not None:
                huey.execute(task)  # calls queue.run_job → self.runner
                return True
        return False

    def _reap_loop(self) -> None:
        interval = max(0.1, self.settings.reaper_interval_seconds)
        stale_after = timedelta(seconds=max(300.0, 10 * self.settings.lease_seconds))
        while not self.stopping.wait(interval):
            self.reap_once(stale_after)

    def reap_once(self, stale_after: timedelta | None = None) -> None:
        """One reaper pass: requeue expired leases; resend long-forgotten queued jobs."""
        try:
            with self.db.session() as session:
                todo = reaper.reap_expired(session)
                if stale_after is not None:
                    todo += reaper.stale_queued(
                        session, stale_after, queue_is_empty=self._queue_is_empty
                    )
            for item in todo:
                self._enqueue(item.queue, item.job_id)
        except Exception:
            log.exception("worker %s: reaper pass failed", self.worker_id)

    def _enqueue(self, queue: str, job_id: int) -> None:
        enqueue_job(self.settings.resolved_queue_url, queue, job_id)

    def _queue_is_empty(self, queue: str) -> bool:
        return pending_count(self.settings.resolved_queue_url, queue) == 0


class EmbeddedWorker:
    """The worker threads inside the API process (``markovlens serve`` default)."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    @property
    def worker_id(self) -> str:
        return self.worker.worker_id

    def stop(self, drain_seconds: float = 5.0) -> None:
        self.worker.stop(drain_seconds)


def start_embedded(
    settings: Settings, *, db: Database | None = None, child_target: ChildTarget = child_main
) -> EmbeddedWorker:
    """Start consumer and reaper threads in this process for ``settings.worker_queues``."""
    worker = Worker(settings, settings.worker_queues, db=db, child_target=child_target)
    return EmbeddedWorker(worker.start())


def run_worker(
    settings: Settings,
    queues: list[str] | None = None,
    *,
    concurrency: int = 1,
    drain_seconds: float = DEFAULT_DRAIN_SECONDS,
    child_target: ChildTarget = child_main,
) -> None:
    """Block consuming ``queues`` until SIGINT/SIGTERM (must run in the main thread)."""
    worker = Worker(settings, queues, concurrency=concurrency, child_target=child_target)
    signals = {"count": 0}

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        signals["count"] += 1
        name = signal.Signals(signum).name
        if signals["count"] == 1:
            log.info(
                "worker %s: %s: finishing the running job, claiming no more", worker.worker_id, name
            )
            worker.stopping.set()
        else:
            log.info("worker %s: %s again: requeueing the running job", worker.worker_id, name)
            worker.abandon.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker.start()
        while not worker.stopping.wait(0.5):
            pass
        worker.stop(drain_seconds)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main() -> None:
    """``python -m markovlens.worker.worker [queue ...]``: a worker with the env's settings."""
    import sys

    from markovlens.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    run_worker(settings, sys.argv[1:] or None)


if __name__ == "__main__":
    main()

"""The parent side of one job: claim, spawn the child, relay its messages, heartbeat, finish.

Runs in a consumer thread of the worker. The child is started with ``spawn`` (never fork
after CUDA is touched). The parent is the only writer of the job row: progress (throttled),
lease heartbeats, the cancel flag (SIGTERM, then SIGKILL after a grace period) and the outcome.
A child crash fails the attempt with its exit code or signal; it never raises here.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from markovlens.settings import Settings
from markovlens.store import Database
from markovlens.store.tables import Corpus, Job
from markovlens.worker import claim
from markovlens.worker.child import ChildSpec, child_main

log = logging.getLogger(__name__)

CANCEL_GRACE_SECONDS = 5.0  # SIGTERM → SIGKILL
PROGRESS_WRITE_SECONDS = 1.0  # at most one progress write per second
CANCEL_POLL_SECONDS = 1.0  # cancel flag read between heartbeats
POLL_SECONDS = 0.2

ChildTarget = Callable[[ChildSpec, Connection], None]
# Puts a released job back on its queue: (queue name, job id). The worker passes the
# transport's enqueue, so this module needs no queue import.
Requeue = Callable[[str, int], None]


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def describe_exit(exitcode: int | None) -> str:
    """A readable reason for a child that ended without a result."""
    if exitcode is None:
        return "the analysis process did not exit"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (likely out of memory)" if -exitcode == signal.SIGKILL else ""
        return f"the analysis process was killed by {name}{hint} (exit code {exitcode})"
    return f"the analysis process exited with code {exitcode} without a result"


@dataclass
class _Outcome:
    result: tuple[dict[str, Any], bytes] | None = None
    error: str | None = None
    progress: float = 0.0
    stage: str = "starting"
    progress_dirty: bool = False
    last_beat: float = 0.0  # monotonic time of the last heartbeat (and progress write)
    last_cancel_check: float = 0.0


class JobRunner:
    """Runs jobs for one worker; ``abandon`` (worker shutting down) requeues the running job.

    ``requeue`` puts a released job back on its queue; without one the released job waits
    queued until the reaper resends it (``reaper.stale_queued``).
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        worker_id: str,
        *,
        abandon: threading.Event | None = None,
        child_target: ChildTarget = child_main,
        cancel_grace: float = CANCEL_GRACE_SECONDS,
        requeue: Requeue | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.worker_id = worker_id
        self.abandon = abandon or threading.Event()
        self.child_target = child_target
        self.cancel_grace = cancel_grace
        self.requeue = requeue
        self._context = multiprocessing.get_context("spawn")

    def __call__(self, job_id: int) -> None:
        self.run(job_id)

    def run(self, job_id: int) -> str:
        """Run ``job_id`` if it can be claimed; returns what happened (for logs and tests)."""
        try:
            return self._run(job_id)
        except Exception:
            # A database outage or a bug here must not kill the consumer thread; the lease
            # expires and the reaper requeues the job.
            log.exception("job %s: runner error (the reaper will requeue it)", job_id)
            return "error"

    def _run(self, job_id: int) -> str:
        with self.db.session() as session:
            job = claim.claim_job(session, job_id, self.worker_id, self.settings.lease_seconds)
            if job is None:
                current = session.get(Job, job_id)
                status = current.status if current is not None else "missing"
                log.info("job %s: not claimable (%s); message dropped", job_id, status)
                return "skipped"
            upload_text = None
            if job.corpus_source.startswith("upload:"):
                corpus = session.get(Corpus, job.corpus_id)
                upload_text = corpus.text if corpus is not None else None
            spec = ChildSpec(
                job_id=job.id,
                model_source=job.model_source,
                corpus_source=job.corpus_source,
                config=dict(job.config),
                settings=self.settings,
                upload_text=upload_text,
                parent_pid=os.getpid(),
            )
            attempt = job.attempts
        log.info("job %s: claimed by %s (attempt %s)", job_id, self.worker_id, attempt)
        return self._supervise(spec)

    def _supervise(self, spec: ChildSpec) -> str:
        job_id = spec.job_id
        receiver, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=self.child_target, args=(spec, sender), name=f"markovlens-job-{job_id}"
        )
        try:
            process.start()
        except Exception as exc:
            log.exception("job %s: could not start the analysis process", job_id)
            receiver.close()
            sender.close()
            self._finish(
                job_id, claim.finish_failed, f"could not start the analysis process: {exc}"
            )
            return "failed"
        sender.close()  # only the child writes; EOF arrives when it exits
        log.info("job %s: child pid %s started", job_id, process.pid)
        outcome = _Outcome(last_beat=time.monotonic(), last_cancel_check=time.monotonic())
        eof = False
        try:
            while True:
                if not eof:
                    eof = self._drain(receiver, outcome, job_id)
                beat = self._control(job_id, outcome)
                if beat is not None:
                    if beat is claim.Beat.CANCEL:
                        log.info("job %s: cancel requested; stopping child", job_id)
                        self._stop_child(process, job_id)
                        self._finish(job_id, claim.finish_cancelled)
                        return "cancelled"
                    if beat is claim.Beat.LOST:
                        log.warning("job %s: lease lost; stopping child, recording nothing", job_id)
                        self._stop_child(process, job_id)
                        return "lost"
                if self.abandon.is_set():
                    log.warning("job %s: worker shutting down; requeueing", job_id)
                    self._stop_child(process, job_id)
                    return self._release(job_id)
                if outcome.result is not None or (eof and not process.is_alive()):
                    break
                if eof:
                    process.join(POLL_SECONDS)
            if outcome.result is not None:
                # Record at once: a big model's interpreter teardown can take many seconds.
                status = self._record(job_id, outcome, None)
                process.join(self.cancel_grace)
                return status
        finally:
            receiver.close()
            if process.is_alive():  # every exit above has stopped or awaited it; be certain
                self._stop_child(process, job_id)
            process.join()
        return self._record(job_id, outcome, process.exitcode)

    def _drain(self, receiver: Connection, outcome: _Outcome, job_id: int) -> bool:
        """Handle the messages that arrive within one poll window; True at end of stream.

        Bounded by the window even if the child floods the pipe, so heartbeats and the cancel
        check always get their turn.
        """
        deadline = time.monotonic() + POLL_SECONDS
        while True:
            timeout = deadline - time.monotonic()
            if timeout < 0:
                return False
            try:
                if not receiver.poll(timeout):
                    return False
                message = receiver.recv()
            except (EOFError, OSError):
                return True
            self._handle(message, outcome, job_id)

    def _handle(self, message: tuple[Any, ...], outcome: _Outcome, job_id: int) -> None:
        kind = message[0]
        if kind == "progress":
            outcome.progress, outcome.stage = float(message[1]), str(message[2])
            outcome.progress_dirty = True
        elif kind == "model":
            with self.db.session() as session:
                claim.record_model_meta(session, job_id, dict(message[1]))
            log.info("job %s: model loaded (%s)", job_id, message[1].get("architecture"))
        elif kind == "result":
            outcome.result = (json.loads(message[1]), bytes(message[2]))
            log.info("job %s: result received (%d bytes of arrays)", job_id, len(message[2]))
        elif kind == "error":
            outcome.error = str(message[1])
            log.info("job %s: child reported: %s", job_id, outcome.error)
        else:
            log.warning("job %s: unknown child message %r ignored", job_id, kind)

    def _control(self, job_id: int, outcome: _Outcome) -> claim.Beat | None:
        """Heartbeat when due (or to write fresh progress); else a cheap cancel-flag read."""
        now = time.monotonic()
        due = now - outcome.last_beat >= self.settings.heartbeat_seconds
        fresh = outcome.progress_dirty and now - outcome.last_beat >= PROGRESS_WRITE_SECONDS
        if due or fresh:
            outcome.last_beat = outcome.last_cancel_check = now
            return self._beat(job_id, outcome)
        if now - outcome.last_cancel_check >= CANCEL_POLL_SECONDS:
            # Keeps cancel prompt (≤ ~1 s + grace) whatever the heartbeat period.
            outcome.last_cancel_check = now
            with self.db.session() as session:
                return claim.Beat.CANCEL if claim.cancel_requested(session, job_id) else None
        return None

    def _beat(self, job_id: int, outcome: _Outcome) -> claim.Beat:
        with self.db.session() as session:
            beat = claim.heartbeat(
                session,
                job_id,
                self.worker_id,
                self.settings.lease_seconds,
                progress=outcome.progress if outcome.progress_dirty else None,
                stage=outcome.stage if outcome.progress_dirty else None,
            )
        outcome.progress_dirty = False
        return beat

    def _stop_child(self, process: Any, job_id: int) -> None:
        """SIGTERM, then SIGKILL after the grace period; always reaped (no zombie, no orphan)."""
        if process.is_alive():
            process.terminate()
            process.join(self.cancel_grace)
        if process.is_alive():
            log.warning("job %s: child ignored SIGTERM; sending SIGKILL", job_id)
            process.kill()
        process.join()

    def _finish(self, job_id: int, finish: Callable[..., bool], *args: Any) -> bool:
        with self.db.session() as session:
            done = finish(session, job_id, self.worker_id, *args)
        if not done:
            log.warning("job %s: lease lost before the outcome was recorded", job_id)
        return done

    def _release(self, job_id: int) -> str:
        with self.db.session() as session:
            released = claim.release_job(session, job_id, self.worker_id)
        if released and self.requeue is not None:
            with self.db.session() as session:
                queue = session.get(Job, job_id).queue  # type: ignore[union-attr]
            self.requeue(queue, job_id)
        return "released"

    def _record(self, job_id: int, outcome: _Outcome, exitcode: int | None) -> str:
        if outcome.result is not None:
            payload, arrays = outcome.result
            try:
                stored = self._finish(job_id, claim.finish_succeeded, payload, arrays)
            except (SQLAlchemyError, OSError) as exc:
                # Disk full / database gone mid-write: the one transaction rolled back, so no
                # partial result exists. Fail the job with the reason (if the database answers;
                # if not, run() logs it and the reaper settles the job later).
                log.exception("job %s: storing the result failed", job_id)
                error = f"could not store the result: {storage_error(exc)}"
                return "failed" if self._finish(job_id, claim.finish_failed, error) else "lost"
            if stored:
                log.info("job %s: succeeded", job_id)
                return "succeeded"
            return "lost"
        error = outcome.error or describe_exit(exitcode)
        log.info("job %s: failed: %s", job_id, error)
        return "failed" if self._finish(job_id, claim.finish_failed, error) else "lost"


def storage_error(exc: BaseException) -> str:
    """The driver's own message (not SQLAlchemy's, which embeds the SQL and its parameters)."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"{type(exc.orig).__name__}: {exc.orig}"
    return f"{type(exc).__name__}: {exc}"

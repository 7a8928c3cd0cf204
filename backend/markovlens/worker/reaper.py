"""The reaper: finds jobs whose worker vanished (lease expired) and requeues or fails them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from markovlens.store.db import begin_write
from markovlens.store.tables import Job, JobStatus, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Requeued:
    job_id: int
    queue: str


def reap_expired(session: Session, now: datetime | None = None) -> list[Requeued]:
    """Running jobs with an expired lease: back to queued, or failed after max_attempts.

    A job whose cancel was requested is cancelled instead. Returns the jobs to re-enqueue
    (the caller puts them on the queue after this commits).
    """
    now = now or utcnow()
    begin_write(session)
    expired = list(
        session.execute(
            select(Job.id, Job.queue, Job.attempts, Job.max_attempts, Job.cancel_requested).where(
                Job.status == JobStatus.RUNNING, Job.lease_expires_at < now
            )
        )
    )
    requeued: list[Requeued] = []
    for job_id, queue, attempts, max_attempts, cancel in expired:
        guard = (Job.id == job_id, Job.status == JobStatus.RUNNING, Job.lease_expires_at < now)
        clear = {"lease_owner": None, "lease_expires_at": None, "heartbeat_at": now}
        if cancel:
            values = {"status": JobStatus.CANCELLED, "stage": "cancelled", "finished_at": now}
            outcome = "cancelled"
        elif attempts >= max_attempts:
            values = {
                "status": JobStatus.FAILED,
                "stage": "failed",
                "finished_at": now,
                "error": f"worker lost {attempts} times (lease expired)",
            }
            outcome = "failed"
        else:
            values = {
                "status": JobStatus.QUEUED,
                "progress": 0.0,
                "stage": f"requeued: worker lost (lease expired, attempt {attempts})",
            }
            outcome = "requeued"
        result = session.execute(update(Job).where(*guard).values(**clear, **values))
        if int(result.rowcount) == 1:  # type: ignore[attr-defined]
            log.warning("job %s: lease expired after attempt %s; %s", job_id, attempts, outcome)
            if outcome == "requeued":
                requeued.append(Requeued(job_id, queue))
    session.commit()
    return requeued


def stale_queued(
    session: Session,
    older_than: timedelta,
    now: datetime | None = None,
    *,
    queue_is_empty: Callable[[str], bool] = lambda _queue: True,
) -> list[Requeued]:
    """Queued jobs not (re)sent for ``older_than`` on a queue with no pending message: their
    message was lost (broker restart, worker killed between dequeue and claim); send again.

    ``jobs.heartbeat_at`` of a queued job is when its message was last sent. Resending only
    to empty queues keeps a long backlog from filling with duplicates (a duplicate would be
    harmless anyway: it loses the claim).
    """
    now = now or utcnow()
    begin_write(session)
    cutoff = now - older_than
    rows = list(
        session.execute(
            select(Job.id, Job.queue).where(
                Job.status == JobStatus.QUEUED,
                func.coalesce(Job.heartbeat_at, Job.created_at) < cutoff,
            )
        )
    )
    resent: list[Requeued] = []
    empty: dict[str, bool] = {}
    for job_id, queue in rows:
        if queue not in empty:
            empty[queue] = queue_is_empty(queue)
        if not empty[queue]:
            continue
        result = session.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.status == JobStatus.QUEUED,
                or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < cutoff),
            )
            .values(heartbeat_at=now)
        )
        if int(result.rowcount) == 1:  # type: ignore[attr-defined]
            resent.append(Requeued(job_id, queue))
    session.commit()
    return resent

"""Atomic claim, lease heartbeat and outcome recording of a job row.

Every write is a conditional UPDATE on (id, status, lease_owner): a worker that lost its lease
(the reaper requeued the job, another worker claimed it) changes nothing and is told so.
"""

from __future__ import annotations

import enum
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from markovlens.store import repo_models, repo_results
from markovlens.store.db import begin_write
from markovlens.store.tables import Job, JobStatus, utcnow

log = logging.getLogger(__name__)


class Beat(enum.StrEnum):
    """What a heartbeat learned."""

    OK = "ok"
    CANCEL = "cancel"  # the user asked to cancel: stop the child
    LOST = "lost"  # the lease is no longer ours: stop, record nothing


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


def _mine(job_id: int, worker_id: str) -> Any:
    return (Job.id == job_id, Job.status == JobStatus.RUNNING, Job.lease_owner == worker_id)


def claim_job(session: Session, job_id: int, worker_id: str, lease_seconds: float) -> Job | None:
    """queued → running for ``worker_id`` (attempts + 1), or None if someone else has it."""
    now = utcnow()
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
        .values(
            status=JobStatus.RUNNING,
            lease_owner=worker_id,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            heartbeat_at=now,
            started_at=now,
            attempts=Job.attempts + 1,
            progress=0.0,
            stage="starting",
            error=None,
        )
    )
    session.commit()
    if _rowcount(result) != 1:
        return None
    job = session.get(Job, job_id)
    if job is not None:
        session.refresh(job)
    return job


def heartbeat(
    session: Session,
    job_id: int,
    worker_id: str,
    lease_seconds: float,
    *,
    progress: float | None = None,
    stage: str | None = None,
) -> Beat:
    """Extend the lease (and record progress); report a cancel request or a lost lease."""
    now = utcnow()
    values: dict[str, Any] = {
        "lease_expires_at": now + timedelta(seconds=lease_seconds),
        "heartbeat_at": now,
    }
    if progress is not None:
        values["progress"] = max(0.0, min(1.0, float(progress)))
    if stage is not None:
        # Keep the "cancelling" a user sees after asking to cancel.
        values["stage"] = case((Job.cancel_requested, Job.stage), else_=stage[:255])
    result = session.execute(update(Job).where(*_mine(job_id, worker_id)).values(**values))
    cancel = session.scalar(select(Job.cancel_requested).where(Job.id == job_id))
    session.commit()
    if _rowcount(result) != 1:
        return Beat.LOST
    return Beat.CANCEL if cancel else Beat.OK


def cancel_requested(session: Session, job_id: int) -> bool:
    """Whether the user asked to cancel ``job_id`` (read-only; between heartbeats)."""
    flag = session.scalar(select(Job.cancel_requested).where(Job.id == job_id))
    session.rollback()  # end the read transaction at once
    return bool(flag)


def record_model_meta(session: Session, job_id: int, meta: dict[str, Any]) -> None:
    """Fill the job's model row with what loading revealed (layers, width, training step...)."""
    begin_write(session)
    model_id = session.scalar(select(Job.model_id).where(Job.id == job_id))
    if model_id is not None:
        repo_models.fill_model_meta(session, model_id, meta)
    session.commit()


def finish_succeeded(
    session: Session, job_id: int, worker_id: str, payload: dict[str, Any], arrays: bytes | None
) -> bool:
    """running → succeeded and the result row, in ONE transaction. False if the lease was lost."""
    now = utcnow()
    result = session.execute(
        update(Job)
        .where(*_mine(job_id, worker_id))
        .values(
            status=JobStatus.SUCCEEDED,
            progress=1.0,
            stage="done",
            finished_at=now,
            heartbeat_at=now,
            lease_expires_at=None,
            error=None,
        )
    )
    if _rowcount(result) != 1:
        session.rollback()
        return False
    job = session.get(Job, job_id)
    assert job is not None
    repo_results.add_result(session, job, payload, arrays)
    session.commit()
    return True


def _finish(session: Session, job_id: int, worker_id: str, **values: Any) -> bool:
    now = utcnow()
    result = session.execute(
        update(Job)
        .where(*_mine(job_id, worker_id))
        .values(finished_at=now, heartbeat_at=now, lease_expires_at=None, **values)
    )
    session.commit()
    return _rowcount(result) == 1


def finish_failed(session: Session, job_id: int, worker_id: str, error: str) -> bool:
    """running → failed with a message the user can read."""
    return _finish(session, job_id, worker_id, status=JobStatus.FAILED, error=error, stage="failed")


def finish_cancelled(session: Session, job_id: int, worker_id: str) -> bool:
    return _finish(
        session, job_id, worker_id, status=JobStatus.CANCELLED, stage="cancelled", error=None
    )


def release_job(session: Session, job_id: int, worker_id: str) -> bool:
    """running → queued because this worker is shutting down; the attempt is not counted."""
    result = session.execute(
        update(Job)
        .where(*_mine(job_id, worker_id))
        .values(
            status=JobStatus.QUEUED,
            attempts=Job.attempts - 1,
            lease_owner=None,
            lease_expires_at=None,
            heartbeat_at=utcnow(),
            progress=0.0,
            stage="requeued (worker shut down)",
        )
    )
    session.commit()
    return _rowcount(result) == 1

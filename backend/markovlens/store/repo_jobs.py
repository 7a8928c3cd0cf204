"""Repository of the ``jobs`` table (reads and plain writes; leases live in worker.claim)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from markovlens.store.tables import Job, JobStatus, Result


def get_job(session: Session, job_id: int) -> Job | None:
    return session.get(Job, job_id)


def find_reusable_job(session: Session, dedupe_key: str) -> Job | None:
    """The newest job with this key that is queued, running or succeeded."""
    reusable = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED)
    stmt = (
        select(Job)
        .where(Job.dedupe_key == dedupe_key, Job.status.in_(reusable))
        .order_by(Job.id.desc())
    )
    return session.scalars(stmt).first()


def list_jobs(
    session: Session,
    *,
    status: str | None = None,
    model_id: int | None = None,
    corpus_id: int | None = None,
    queue: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Job], int]:
    """Jobs newest first, filtered, with the total count before paging."""
    conditions = []
    if status is not None:
        conditions.append(Job.status == status)
    if model_id is not None:
        conditions.append(Job.model_id == model_id)
    if corpus_id is not None:
        conditions.append(Job.corpus_id == corpus_id)
    if queue is not None:
        conditions.append(Job.queue == queue)
    total = session.scalar(select(func.count()).select_from(Job).where(*conditions)) or 0
    stmt = select(Job).where(*conditions).order_by(Job.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(stmt)), int(total)


def result_ids_for_jobs(session: Session, job_ids: Iterable[int]) -> dict[int, int]:
    """job id -> result id, for the jobs that have a result."""
    ids = list(job_ids)
    if not ids:
        return {}
    rows = session.execute(select(Result.job_id, Result.id).where(Result.job_id.in_(ids)))
    return {job_id: result_id for job_id, result_id in rows}


def jobs_with_status(session: Session, statuses: Sequence[str]) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.status.in_(statuses)).order_by(Job.id)))

"""Repository of the ``results`` table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from markovlens.store.tables import Job, Result


def get_result(session: Session, result_id: int) -> Result | None:
    return session.get(Result, result_id)


def get_result_for_job(session: Session, job_id: int) -> Result | None:
    return session.scalars(select(Result).where(Result.job_id == job_id)).first()


def add_result(
    session: Session,
    job: Job,
    payload: dict[str, Any],
    arrays: bytes | None,
    *,
    kind: str = "analysis",
) -> Result:
    """Stage a result row for ``job`` (the caller commits it with the job's status)."""
    row = Result(
        job_id=job.id,
        model_id=job.model_id,
        corpus_id=job.corpus_id,
        kind=kind,
        schema_version=int(payload.get("schema_version", 1)),
        payload=payload,
        arrays=arrays,
    )
    session.add(row)
    return row


def latest_results_for_model(session: Session, model_id: int) -> list[tuple[Result, Job]]:
    """A model's dashboard: its newest succeeded result per (corpus source, preset)."""
    # Pick the ids first so only the dashboard's payloads are loaded, not the whole history.
    newest = (
        select(func.max(Result.id))
        .join(Job, Job.id == Result.job_id)
        .where(Result.model_id == model_id)
        .group_by(Job.corpus_source, Job.preset)
    )
    # The arrays blob is never needed here, and the payload only when a headline is not cached.
    stmt = (
        select(Result, Job)
        .join(Job, Job.id == Result.job_id)
        .where(Result.id.in_(newest))
        .options(defer(Result.arrays), defer(Result.payload))
    )
    pairs = list(session.execute(stmt).tuples())
    return sorted(pairs, key=lambda pair: (pair[1].corpus_source, pair[1].preset))

"""A job's page: its config, the model it resolved to, stage timings and a log of events.

The jobs table keeps a job's lifecycle (created, started, attempts, finished, error) and the
stored result keeps the analysis's own stage timings and notes; this puts them in time order.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from markovlens.api.deps import SessionDep
from markovlens.service import catalog
from markovlens.service.schemas import JobOut
from markovlens.store.tables import Model, Result

router = APIRouter(tags=["jobs"])

# Stages of run_analysis in the order they run (provenance.stage_seconds keys).
_STAGE_ORDER = ("capture", "lens", "surplus", "spectral", "aggregate")


class LogEvent(BaseModel):
    at: datetime | None
    event: str
    detail: str | None = None
    level: str = Field(default="info", description="info | error")


class StageTiming(BaseModel):
    stage: str
    seconds: float


class JobDetail(BaseModel):
    job: JobOut
    revision: str | None = Field(description="The revision the job asked for (None: default).")
    model: dict[str, Any] | None
    stages: list[StageTiming] = Field(description="Stage timings of the analysis (succeeded jobs).")
    total_seconds: float | None = Field(description="Started → finished (or → now if running).")
    log: list[LogEvent]
    notes: list[str] = Field(default_factory=list)


def _stages(payload: dict[str, Any]) -> list[StageTiming]:
    seconds = dict(payload.get("provenance", {}).get("stage_seconds") or {})
    ordered = [s for s in _STAGE_ORDER if s in seconds]
    ordered += sorted(s for s in seconds if s not in _STAGE_ORDER and s != "total")
    return [StageTiming(stage=s, seconds=float(seconds[s])) for s in ordered]


def job_log(job: JobOut, stages: list[StageTiming], analysis_total: float | None) -> list[LogEvent]:
    """Lifecycle events; for a finished analysis its stages, placed before the finish time."""
    log = [
        LogEvent(
            at=job.created_at, event="submitted", detail=f"preset {job.preset}, queue {job.queue}"
        )
    ]
    if job.started_at is not None:
        attempt = f"attempt {job.attempts} of {job.max_attempts}"
        log.append(LogEvent(at=job.started_at, event="started", detail=attempt))
    if stages and job.finished_at is not None and analysis_total is not None:
        # The analysis ran last, just before the result was stored: its stages end there.
        at = job.finished_at - timedelta(seconds=analysis_total)
        log.append(LogEvent(at=at, event="model and corpus loaded", detail="analysis starts"))
        for stage in stages:
            at = at + timedelta(seconds=stage.seconds)
            log.append(
                LogEvent(at=at, event=f"{stage.stage} done", detail=f"{stage.seconds:.1f} s")
            )
    if job.status == "running":
        log.append(
            LogEvent(
                at=None, event="running", detail=f"{job.stage or ''} · {round(job.progress * 100)}%"
            )
        )
    elif job.status == "queued":
        log.append(LogEvent(at=None, event="waiting for a worker", detail=f"queue {job.queue}"))
    if job.finished_at is not None:
        failed = job.status == "failed"
        detail = job.error if failed else None
        if failed:
            detail = f"at {round(job.progress * 100)}%: {job.error}"
        log.append(
            LogEvent(
                at=job.finished_at,
                event=job.status,
                detail=detail,
                level="error" if failed else "info",
            )
        )
    return log


@router.get("/jobs/{job_id}/detail", response_model=JobDetail)
def get_job_detail(job_id: int, session: SessionDep) -> JobDetail:
    """Config, resolved model, stage timings and an event log of one job."""
    job_row = catalog.get_job(session, job_id)
    job = catalog.job_out(session, job_row)
    model = session.get(Model, job.model_id)
    model_info = None
    if model is not None:
        model_info = {k: getattr(model, k) for k in (
            "source", "revision", "content_hash", "architecture", "num_layers", "hidden_size",
            "vocab_size", "num_parameters")}  # fmt: skip
    stages: list[StageTiming] = []
    notes: list[str] = []
    analysis_total = None
    if job.result_id is not None:
        result = session.get(Result, job.result_id)
        payload = dict(result.payload) if result is not None else {}
        stages = _stages(payload)
        seconds = payload.get("provenance", {}).get("stage_seconds") or {}
        analysis_total = seconds.get("total")
        notes = list(payload.get("provenance", {}).get("notes") or [])
    total = None
    if job.started_at is not None:
        end = job.finished_at or datetime.now(job.started_at.tzinfo)
        total = max(0.0, (end - job.started_at).total_seconds())
    return JobDetail(
        job=job,
        revision=job_row.model_revision,
        model=model_info,
        stages=stages,
        total_seconds=total,
        log=job_log(job, stages, analysis_total),
        notes=notes,
    )

"""Request and response schemas shared by the jobs service, the REST API and the CLI.

Field names match the REST contract (``/api/v1``) exactly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from markovlens.schema.headline import Headline
from markovlens.schema.openapi import result_document
from markovlens.schema.verdicts import with_verdicts
from markovlens.store.tables import Corpus, Job, Model, Result

PresetName = Literal["quick", "standard", "full"]
StatusName = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class SubmitRequest(BaseModel):
    """``POST /jobs``: what to analyse, on what, how."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=1024, description="Model source string.")
    revision: str | None = Field(default=None, max_length=255)
    corpus: str = Field(min_length=1, max_length=1024, description="Corpus source string.")
    preset: PresetName = "standard"
    config: dict[str, Any] | None = Field(default=None, description="Overrides of the preset.")
    queue: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Default: cpu."
    )
    force: bool = Field(default=False, description="Run again even if an equal job exists.")


class JobOut(BaseModel):
    id: int
    model_id: int
    corpus_id: int
    model_source: str
    corpus_source: str
    preset: str
    config: dict[str, Any]
    queue: str
    status: StatusName
    progress: float
    stage: str | None
    attempts: int
    max_attempts: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result_id: int | None = None
    reused: bool = Field(
        default=False,
        description="POST /jobs only: an equal job already existed and is returned (HTTP 200, "
        "not 201); submit with force to run it again.",
    )

    @classmethod
    def from_row(cls, job: Job, result_id: int | None = None) -> JobOut:
        return cls(
            id=job.id,
            model_id=job.model_id,
            corpus_id=job.corpus_id,
            model_source=job.model_source,
            corpus_source=job.corpus_source,
            preset=job.preset,
            config=dict(job.config),
            queue=job.queue,
            status=job.status,  # type: ignore[arg-type]
            progress=job.progress,
            stage=job.stage,
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            error=job.error,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            result_id=result_id,
        )


class JobList(BaseModel):
    items: list[JobOut]
    total: int


class JobFilters(BaseModel):
    """``GET /jobs`` filters (all optional)."""

    status: StatusName | None = None
    model_id: int | None = None
    corpus_id: int | None = None
    queue: str | None = None


class LatestResult(BaseModel):
    result_id: int
    job_id: int
    corpus_source: str
    preset: str
    created_at: datetime
    headline: Headline
    resolved_revision: str | None = None  # the revision the weights resolved to for this run


class ModelOut(BaseModel):
    id: int
    source: str
    revision: str | None
    content_hash: str | None
    architecture: str | None
    num_layers: int | None
    hidden_size: int | None
    vocab_size: int | None
    num_parameters: int | None
    run_name: str | None
    training_step: int | None
    label: str | None
    created_at: datetime
    latest: list[LatestResult] = Field(default_factory=list)

    @classmethod
    def from_row(cls, model: Model, latest: list[LatestResult] | None = None) -> ModelOut:
        return cls(
            id=model.id,
            source=model.source,
            revision=model.revision or None,  # "" in the table means "not pinned"
            content_hash=model.content_hash,
            architecture=model.architecture,
            num_layers=model.num_layers,
            hidden_size=model.hidden_size,
            vocab_size=model.vocab_size,
            num_parameters=model.num_parameters,
            run_name=model.run_name,
            training_step=model.training_step,
            label=model.label,
            created_at=model.created_at,
            latest=latest or [],
        )


class CorpusOut(BaseModel):
    id: int
    source: str
    name: str | None
    num_bytes: int | None
    sha256: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, corpus: Corpus) -> CorpusOut:
        return cls(
            id=corpus.id,
            source=corpus.source,
            name=corpus.name,
            num_bytes=corpus.num_bytes,
            sha256=corpus.sha256,
            created_at=corpus.created_at,
        )


class ResultOut(BaseModel):
    """``GET /results/{id}``: the stored AnalysisResult JSON under ``result``."""

    id: int
    job_id: int
    model_id: int
    corpus_id: int
    schema_version: int
    created_at: datetime
    result: dict[str, Any] = result_document("The stored AnalysisResult JSON document.")

    @classmethod
    def from_row(cls, row: Result) -> ResultOut:
        return cls(
            id=row.id,
            job_id=row.job_id,
            model_id=row.model_id,
            corpus_id=row.corpus_id,
            schema_version=row.schema_version,
            created_at=row.created_at,
            result=with_verdicts(dict(row.payload)),  # older results: verdicts filled
        )

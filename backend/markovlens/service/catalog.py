"""Catalog reads: jobs, models, corpora and results as the API and the CLI show them."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.orm import Session

from markovlens.schema.headline import Headline, headline
from markovlens.service.errors import NotFoundError
from markovlens.service.schemas import (
    CorpusOut,
    JobFilters,
    JobList,
    JobOut,
    LatestResult,
    ModelOut,
    ResultOut,
)
from markovlens.store import repo_corpora, repo_jobs, repo_models, repo_results
from markovlens.store.tables import Corpus, Job, Model, Result

_Row = TypeVar("_Row", Job, Model, Result)

__all__ = [
    "HEADLINES",
    "HeadlineCache",
    "corpus_out",
    "get_job",
    "get_model",
    "get_result",
    "job_out",
    "latest_results_by_model",
    "list_corpora",
    "list_jobs",
    "list_models",
    "model_out",
    "result_out",
]


def _found(row: _Row | None, what: str, row_id: int) -> _Row:
    """``row``, or NotFoundError (HTTP 404) naming what was asked for."""
    if row is None:
        raise NotFoundError(f"no {what} with id {row_id}")
    return row


def get_job(session: Session, job_id: int) -> Job:
    return _found(repo_jobs.get_job(session, job_id), "job", job_id)


def job_out(session: Session, job: Job) -> JobOut:
    result_id = repo_jobs.result_ids_for_jobs(session, [job.id]).get(job.id)
    return JobOut.from_row(job, result_id)


def list_jobs(
    session: Session, filters: JobFilters | None = None, limit: int = 50, offset: int = 0
) -> JobList:
    """Jobs newest first with their result ids; ``total`` counts all that match."""
    filters = filters or JobFilters()
    limit = max(1, min(int(limit), 500))
    jobs, total = repo_jobs.list_jobs(
        session, **filters.model_dump(), limit=limit, offset=max(0, int(offset))
    )
    result_ids = repo_jobs.result_ids_for_jobs(session, [job.id for job in jobs])
    return JobList(
        items=[JobOut.from_row(job, result_ids.get(job.id)) for job in jobs], total=total
    )


def corpus_out(corpus: Corpus) -> CorpusOut:
    return CorpusOut.from_row(corpus)


def list_corpora(session: Session) -> list[CorpusOut]:
    return [CorpusOut.from_row(row) for row in repo_corpora.list_corpora(session)]


class HeadlineCache:
    """Headline numbers of results by (database URL, result id, job id).

    Results never change once written, so their headlines can be kept (the models page asks
    for every model's headlines on every load). Keyed by database URL too: one process may
    talk to several databases (tests do). Cleared whole when full: simple, and a refill costs
    one payload read per result.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: dict[tuple[str, int, int], Headline] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, session: Session, result: Result) -> Headline:
        """The headline of ``result``; loads its deferred payload only on a miss."""
        key = (str(session.get_bind().engine.url), result.id, result.job_id)
        cached = self._entries.get(key)
        if cached is None:
            cached = headline(result.payload)
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = cached
        return cached

    def clear(self) -> None:
        self._entries.clear()


# The process's cache, shared by every request (its entries never go stale).
HEADLINES = HeadlineCache()


def _resolved_revision(payload: Any) -> str | None:
    """``provenance.model.revision`` of a result: the commit (or "local") actually loaded."""
    model = payload.get("provenance", {}).get("model") if isinstance(payload, dict) else None
    revision = model.get("revision") if isinstance(model, dict) else None
    return revision if isinstance(revision, str) and revision else None


def latest_results_by_model(
    session: Session, model_id: int, *, headlines: HeadlineCache = HEADLINES
) -> list[LatestResult]:
    """The model's dashboard: newest succeeded result per (corpus, preset), with headlines."""
    return [
        LatestResult(
            result_id=result.id,
            job_id=job.id,
            corpus_source=job.corpus_source,
            preset=job.preset,
            created_at=result.created_at,
            headline=headlines.get(session, result),
            resolved_revision=_resolved_revision(result.payload),
        )
        for result, job in repo_results.latest_results_for_model(session, model_id)
    ]


def get_model(session: Session, model_id: int) -> Model:
    return _found(repo_models.get_model(session, model_id), "model", model_id)


def model_out(session: Session, model: Model) -> ModelOut:
    return ModelOut.from_row(model, latest_results_by_model(session, model.id))


def list_models(session: Session) -> list[ModelOut]:
    return [model_out(session, model) for model in repo_models.list_models(session)]


def get_result(session: Session, result_id: int) -> Result:
    return _found(repo_results.get_result(session, result_id), "result", result_id)


def result_out(result: Result) -> ResultOut:
    return ResultOut.from_row(result)

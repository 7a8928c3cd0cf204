"""Submission: validate, record and enqueue a job; cancel one; store an uploaded corpus.

Everything a bad request can trip on is checked here, before a worker sees the job: the
messages are the user's (``SubmitError`` → HTTP 422).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from markovlens.schema.config import preset_config
from markovlens.service.errors import (
    JobStateError,
    NotFoundError,
    QueueUnavailableError,
    StorageFullError,
    SubmitError,
)
from markovlens.service.schemas import SubmitRequest
from markovlens.settings import Settings, get_settings
from markovlens.store import repo_corpora, repo_jobs, repo_models
from markovlens.store.db import begin_write
from markovlens.store.tables import TERMINAL_STATUSES, Corpus, Job, JobStatus, utcnow
from markovlens.worker.queue import enqueue_job
from markovlens.worker.routing import Route, known_classes, route_job

log = logging.getLogger(__name__)

__all__ = [
    "MIN_WINDOWS",
    "cancel_job",
    "create_upload_corpus",
    "resolve_corpus_row",
    "submit_job",
    "submit_job_reused",
]


def _canonical_model_source(source: str, revision: str | None) -> tuple[str, str | None]:
    """Validate with the models package; fold ``revision`` into hf sources (``hf:repo@rev``)."""
    from markovlens.models import ModelSourceError, parse_model_source

    try:
        parsed = parse_model_source(source)
        if revision:
            base = parsed.base
            if base.kind != "hf":
                raise SubmitError(
                    f"a revision only applies to hf: models, not {parsed.canonical!r}"
                )
            if base.revision and base.revision != revision:
                raise SubmitError(
                    f"revision {revision!r} contradicts the source's @{base.revision}"
                )
            if not base.revision:
                prefix = "random-init:" if parsed.kind == "random-init" else ""
                parsed = parse_model_source(f"{prefix}hf:{base.ref}@{revision}")
    except ModelSourceError as exc:
        raise SubmitError(str(exc)) from exc
    return parsed.canonical, revision or parsed.base.revision


def _non_finite(value: Any, where: str) -> str | None:
    """The dotted path of the first Infinity or NaN inside ``value``, else None."""
    if isinstance(value, float) and not math.isfinite(value):
        return where
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _non_finite(item, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


def _validated_config(request: SubmitRequest, settings: Settings) -> dict[str, Any]:
    overrides = dict(request.config or {})
    overrides.pop("preset", None)  # the request's preset field is the one that counts
    # Python's JSON reader accepts Infinity and NaN; a tolerance of Infinity would switch the
    # lens check off and the stored config would not be standard JSON.
    bad = _non_finite(overrides, "")
    if bad is not None:
        raise SubmitError(
            f"invalid config: {bad} must be a finite number (Infinity and NaN are refused); "
            "give a finite value or leave it out for the preset's default"
        )
    _check_batch_size(overrides.get("batch_size"), settings)
    try:
        config = preset_config(request.preset, **overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SubmitError(f"invalid config: {problems}") from exc
    except (TypeError, ValueError) as exc:
        raise SubmitError(f"invalid config: {exc}") from exc
    if config.max_tokens > settings.max_corpus_tokens:
        raise SubmitError(
            f"invalid config: max_tokens {config.max_tokens} exceeds this server's limit "
            f"of {settings.max_corpus_tokens}"
        )
    _check_batch_size(config.batch_size, settings)
    return config.model_dump(mode="json")


def _check_batch_size(value: object, settings: Settings) -> None:
    """Checked on the raw number too: 1e23 must get this message, not a parse error."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if value > settings.max_batch_size:
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        raise SubmitError(
            f"invalid config: batch_size {shown} exceeds this server's limit of "
            f"{settings.max_batch_size}; leave it out (null) to fit the batch to memory"
        )


def _check_corpus_source(source: str) -> None:
    """Refuse now what the worker would refuse later: an unknown synthetic source."""
    from markovlens.corpora import CorpusError, parse_corpus_source  # loads torch: not at import

    try:
        parsed = parse_corpus_source(source)
    except CorpusError as exc:
        raise SubmitError(str(exc)) from exc
    if parsed.kind == "synthetic":
        from markovlens.lab.synthetic_sources import source_names

        names = source_names()
        if parsed.ref not in names:
            raise SubmitError(
                f"unknown synthetic source {parsed.ref[:100]!r}; the synthetic sources are "
                + ", ".join(f"synthetic:{name}" for name in names)
            )


# The probe-train / validation / test split needs this many windows (AnalysisConfig).
MIN_WINDOWS = 3


def _check_upload_size(corpus: Corpus, config: dict[str, Any]) -> None:
    """An upload too short for the windows asked for is refused here, not in the worker.

    A token covers at least one byte of UTF-8 text, so an upload of B bytes has at most B
    tokens (plus a BOS per window): fewer than ``MIN_WINDOWS`` windows' worth can never run.
    """
    if corpus.num_bytes is None or not corpus.source.startswith("upload:"):
        return
    window_len = int(config["window_len"])
    needed = MIN_WINDOWS * (window_len - 1)
    if corpus.num_bytes < needed:
        raise SubmitError(
            f"{corpus.source} has {corpus.num_bytes} bytes, so at most {corpus.num_bytes} "
            f"tokens: fewer than the {MIN_WINDOWS} windows of {window_len} tokens the analysis "
            f"needs. Upload more text (at least {needed} bytes) or lower window_len"
        )


def _check_queue_served(session: Session, settings: Settings, queue: str | None) -> None:
    """An explicit queue must be one some live worker consumes, or the job would wait forever.

    Configured device classes are checked by routing (``unknown queue``); here the queues of
    the workers that advertised themselves (the embedded one included). With none seen yet
    nothing is known, and the job is accepted: its workers may be starting.
    """
    if queue is None or settings.device_classes:
        return
    served = {device_class.queue for device_class in known_classes(session, settings)}
    if served and queue not in served:
        raise SubmitError(
            f"no worker serves queue {queue!r}; queues with workers: {', '.join(sorted(served))}. "
            f"Leave queue empty to route automatically, or start one: markovlens worker -q {queue}"
        )


def _dedupe_key(
    model: str, revision: str | None, corpus: str, config: dict[str, Any], queue: str
) -> str:
    # The queue is part of the job: the same analysis asked of a GPU class is another job.
    text = json.dumps([model, revision or "", corpus, config, queue], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _route(
    session: Session, settings: Settings, source: str, revision: str | None, queue: str | None
) -> Route:
    """The queue by device class and memory estimate (routing.py); raises NoCapacityError.

    Runs before the write transaction: reading weight headers must not hold SQLite's lock.
    """
    route = route_job(
        session, settings, source, repo_models.find_model(session, source, revision), queue
    )
    log.info(
        "route %s -> %s (%s, estimate %s bytes)",
        source,
        route.queue,
        route.reason,
        route.estimate_bytes,
    )
    return route


def submit_job(
    session: Session,
    request: SubmitRequest,
    *,
    settings: Settings | None = None,
    enqueue: bool = True,
) -> Job:
    """Validate, record and enqueue a job (commits); see ``submit_job_reused``."""
    return submit_job_reused(session, request, settings=settings, enqueue=enqueue)[0]


def submit_job_reused(
    session: Session,
    request: SubmitRequest,
    *,
    settings: Settings | None = None,
    enqueue: bool = True,
) -> tuple[Job, bool]:
    """Validate, record and enqueue a job (commits): (job, False). An equal live job is
    returned instead: (that job, True).

    "Equal" is same model+revision+corpus+config, status queued/running/succeeded; a failed
    or cancelled one is retried by submitting again; ``force`` always creates a new job.
    Raises SubmitError (bad input) or QueueUnavailableError (the row is marked failed).
    """
    settings = settings or get_settings()
    model_source, revision = _canonical_model_source(request.model, request.revision)
    config = _validated_config(request, settings)
    _check_corpus_source(request.corpus)
    _check_queue_served(session, settings, request.queue)
    route = _route(session, settings, model_source, revision, request.queue)
    begin_write(session)  # reads (dedupe) then writes: take SQLite's write lock up front
    corpus = resolve_corpus_row(session, request.corpus)
    _check_upload_size(corpus, config)
    key = _dedupe_key(model_source, revision, corpus.source, config, route.queue)
    if not request.force:
        existing = repo_jobs.find_reusable_job(session, key)
        if existing is not None:
            session.commit()
            log.info("job %s: reused for an equal submission", existing.id)
            return existing, True
    model = repo_models.get_or_create_model(session, model_source, revision)
    job = Job(
        model_id=model.id,
        corpus_id=corpus.id,
        model_source=model_source,
        model_revision=revision,
        corpus_source=corpus.source,
        preset=request.preset,
        config=config,
        dedupe_key=key,
        queue=route.queue,
        status=JobStatus.QUEUED,
        progress=0.0,
        stage="queued",
        attempts=0,
        max_attempts=settings.max_attempts,
        cancel_requested=False,
    )
    session.add(job)
    # Commit before enqueueing: a worker must never dequeue an id it cannot read yet.
    session.commit()
    log.info("job %s: submitted (%s on %s, %s)", job.id, model_source, corpus.source, job.queue)
    if enqueue:
        try:
            enqueue_job(settings.resolved_queue_url, job.queue, job.id)
        except Exception as exc:
            log.exception("job %s: enqueue failed", job.id)
            job.status = JobStatus.FAILED
            job.error = f"the job queue is unavailable: {exc}"
            job.finished_at = utcnow()
            session.commit()
            raise QueueUnavailableError(job.error) from exc
    return job, False


def cancel_job(session: Session, job_id: int) -> Job:
    """Cancel: a queued job at once; a running one is flagged and its worker stops it.

    Raises NotFoundError, or JobStateError if the job already finished. The row is locked
    (FOR UPDATE on Postgres, the write lock on SQLite) so a concurrent claim cannot slip in.
    """
    begin_write(session)
    stmt = (
        select(Job)
        .where(Job.id == job_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    job = session.scalars(stmt).first()
    if job is None:
        session.rollback()
        raise NotFoundError(f"no job with id {job_id}")
    if job.status in TERMINAL_STATUSES:
        session.rollback()
        raise JobStateError(f"job {job_id} already finished ({job.status}); nothing to cancel")
    job.cancel_requested = True
    if job.status == JobStatus.QUEUED:
        job.status = JobStatus.CANCELLED
        job.stage = "cancelled"
        job.finished_at = utcnow()
    else:
        job.stage = "cancelling"
    session.commit()
    log.info("job %s: cancel requested (now %s)", job_id, job.status)
    return job


def create_upload_corpus(
    session: Session, name: str | None, text: str, *, settings: Settings | None = None
) -> Corpus:
    """Store uploaded text as corpus ``upload:<id>`` (commits)."""
    settings = settings or get_settings()
    size = len(text.encode("utf-8"))
    if not text.strip():
        raise SubmitError("the uploaded corpus is empty")
    if size > settings.max_upload_bytes:
        raise SubmitError(
            f"the uploaded corpus is {size} bytes; this server accepts at most "
            f"{settings.max_upload_bytes}"
        )
    if settings.corpora_budget_bytes > 0:
        begin_write(session)  # sum and insert under one write lock (SQLite)
        used = repo_corpora.upload_bytes(session)
        if used + size > settings.corpora_budget_bytes:
            session.rollback()
            raise StorageFullError(
                f"the corpora storage budget is full: {used:,} of "
                f"{settings.corpora_budget_bytes:,} bytes are used and this upload has "
                f"{size:,}; reuse an uploaded corpus (upload:<id>) or ask the operator to raise "
                "MARKOVLENS_CORPORA_BUDGET_BYTES"
            )
    corpus = repo_corpora.create_upload(session, (name or "").strip() or None, text)
    session.commit()
    return corpus


def resolve_corpus_row(session: Session, source: str) -> Corpus:
    """Check ``source`` and return its ``corpora`` row (created for non-upload sources)."""
    from markovlens.corpora import CorpusError, parse_corpus_source  # loads torch: not at import

    try:
        parsed = parse_corpus_source(source)
    except CorpusError as exc:
        raise SubmitError(str(exc)) from exc
    if parsed.kind == "upload":
        row = repo_corpora.find_corpus(session, parsed.canonical) if parsed.ref.isdigit() else None
        if row is None:
            raise SubmitError(
                f"no uploaded corpus with id {parsed.ref}; upload it with POST /corpora"
            )
        return row
    return repo_corpora.get_or_create_corpus(session, parsed.canonical)

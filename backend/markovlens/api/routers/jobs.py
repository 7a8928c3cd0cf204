"""Jobs: submit, list (filters + pagination), get, cancel, and the SSE progress stream."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from markovlens.api.deps import WRITE_GUARD, SessionDep, SettingsDep, get_database
from markovlens.api.preflight import preflight_model, preflight_pairing
from markovlens.api.sse import job_event_stream
from markovlens.service import catalog, submission
from markovlens.service.errors import NotFoundError
from markovlens.service.schemas import JobFilters, JobList, JobOut, StatusName, SubmitRequest
from markovlens.store import Database

router = APIRouter(tags=["jobs"])


@router.post(
    "/jobs",
    response_model=JobOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": JobOut, "description": "An equal job exists (reused)."}},
    dependencies=WRITE_GUARD,  # a valid token (once configured), then the write budget
)
def submit_job(
    request: SubmitRequest,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
) -> JobOut:
    """Queue an analysis: 201. An equal job already queued, running or done is returned
    instead (200, ``reused``) unless ``force``."""
    # Refuse now what the worker would refuse later (bad path, no weights, not a causal LM).
    preflight_model(request.model, settings, revision=request.revision)
    preflight_pairing(request.model, request.corpus, settings)  # synthetic corpus, text model
    job, reused = submission.submit_job_reused(session, request, settings=settings)
    if reused:
        response.status_code = status.HTTP_200_OK
    return catalog.job_out(session, job).model_copy(update={"reused": reused})


@router.get("/jobs", response_model=JobList)
def list_jobs(
    session: SessionDep,
    status_: StatusName | None = Query(default=None, alias="status"),
    model_id: int | None = Query(default=None, ge=1),
    corpus_id: int | None = Query(default=None, ge=1),
    queue: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
) -> JobList:
    """Newest first."""
    filters = JobFilters(status=status_, model_id=model_id, corpus_id=corpus_id, queue=queue)
    return catalog.list_jobs(session, filters, limit=limit, offset=offset)


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: int, session: SessionDep) -> JobOut:
    return catalog.job_out(session, catalog.get_job(session, job_id))


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, dependencies=WRITE_GUARD)
def cancel_job(job_id: int, session: SessionDep) -> JobOut:
    """Cancel a queued job at once, or ask the worker to stop a running one; 409 if finished."""
    return catalog.job_out(session, submission.cancel_job(session, job_id))


@router.get(
    "/jobs/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def job_events(job_id: int, request: Request) -> StreamingResponse:
    """``text/event-stream``: the JobOut JSON on every change; ends after a terminal state.

    Each state is a default (``message``) event; the last one is repeated as ``event: end``
    so an ``EventSource`` knows to close instead of reconnecting.
    """
    database = get_database(request)
    # Fail fast with a normal 404 before the stream starts.
    await run_in_threadpool(_fetch_job_or_raise, database, job_id)

    async def fetch() -> JobOut | None:
        return await run_in_threadpool(_fetch_job, database, job_id)

    return StreamingResponse(
        job_event_stream(fetch, request.is_disconnected),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _fetch_job_or_raise(database: Database, job_id: int) -> JobOut:
    with database.session() as session:
        return catalog.job_out(session, catalog.get_job(session, job_id))


def _fetch_job(database: Database, job_id: int) -> JobOut | None:
    try:
        return _fetch_job_or_raise(database, job_id)
    except NotFoundError:
        return None

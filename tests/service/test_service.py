"""The service the API and CLI call: validation, dedupe, enqueue, cancel, reads."""

from __future__ import annotations

import pytest
from markovlens.service import catalog, submission
from markovlens.service.errors import JobStateError, NotFoundError, SubmitError
from markovlens.service.schemas import JobFilters, SubmitRequest
from markovlens.settings import Settings
from markovlens.store import Database
from markovlens.store.tables import JobStatus
from markovlens.worker.queue import pending_count


def _submit(db: Database, settings: Settings, **kw: object) -> int:
    values: dict[str, object] = {"model": "local:/models/a", "corpus": "builtin:python-docs"}
    values.update(kw)
    with db.session() as s:
        return submission.submit_job(s, SubmitRequest(**values), settings=settings).id  # type: ignore[arg-type]


def test_submit_creates_rows_and_enqueues(db: Database, settings: Settings) -> None:
    job_id = _submit(db, settings, preset="quick", config={"max_tokens": 8192})
    with db.session() as s:
        job = catalog.get_job(s, job_id)
        assert job.status == JobStatus.QUEUED and job.attempts == 0
        assert job.max_attempts == settings.max_attempts
        assert job.config["max_tokens"] == 8192 and job.config["window_len"] == 128
        assert job.queue == "cpu"
        out = catalog.job_out(s, job)
        assert out.result_id is None and out.model_source == "local:/models/a"
        models = catalog.list_models(s)
        assert [m.source for m in models] == ["local:/models/a"] and models[0].revision is None
    assert pending_count(settings.resolved_queue_url, "cpu") == 1


def test_equal_submission_reuses_job_unless_forced(db: Database, settings: Settings) -> None:
    first = _submit(db, settings)
    assert _submit(db, settings) == first
    assert _submit(db, settings, config={"seed": 1}) != first
    forced = _submit(db, settings, force=True)
    assert forced != first
    with db.session() as s:
        submission.cancel_job(s, first)
        submission.cancel_job(s, forced)
    # cancelled jobs are not reused
    assert _submit(db, settings) not in (first, forced)


def test_named_queue_is_separate(db: Database, settings: Settings) -> None:
    _submit(db, settings, queue="gpu")
    assert pending_count(settings.resolved_queue_url, "gpu") == 1
    assert pending_count(settings.resolved_queue_url, "cpu") == 0


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"model": "nonsense"}, "invalid model source"),
        ({"model": "ftp:x"}, "unknown scheme"),
        ({"model": "local:/m", "revision": "v1"}, "revision only applies"),
        ({"corpus": "upload:999"}, "no uploaded corpus with id 999"),
        ({"corpus": "s3:bucket"}, "unknown scheme 's3'"),
        ({"config": {"window_len": 2}}, "window_len"),
        ({"config": {"not_a_knob": 1}}, "not_a_knob"),
        ({"config": {"max_tokens": 10**9}}, "exceeds this server's limit"),
    ],
)
def test_bad_submissions_say_why(
    db: Database, settings: Settings, fields: dict[str, object], needle: str
) -> None:
    with pytest.raises(SubmitError, match=needle):
        _submit(db, settings, **fields)
    with db.session() as s:
        assert catalog.list_jobs(s).total == 0


def test_revision_folds_into_hf_source(db: Database, settings: Settings) -> None:
    job_id = _submit(db, settings, model="hf:org/name", revision="abc123")
    with db.session() as s:
        job = catalog.get_job(s, job_id)
        assert job.model_source == "hf:org/name@abc123"
        model = catalog.model_out(s, catalog.get_model(s, job.model_id))
        assert model.revision == "abc123"


def test_upload_corpus_and_submit_on_it(db: Database, settings: Settings) -> None:
    with db.session() as s:
        # Enough text for three windows of the standard preset (refused at submission if not).
        corpus = submission.create_upload_corpus(s, "notes", "some text " * 100, settings=settings)
        out = catalog.corpus_out(corpus)
        assert out.source == f"upload:{corpus.id}" and out.num_bytes == 1000
        with pytest.raises(SubmitError, match="empty"):
            submission.create_upload_corpus(s, "x", "   ", settings=settings)
    small = settings.model_copy(update={"max_upload_bytes": 10})
    with db.session() as s, pytest.raises(SubmitError, match="at most 10"):
        submission.create_upload_corpus(s, "x", "more than ten bytes", settings=small)
    job_id = _submit(db, settings, corpus=f"upload:{corpus.id}")
    with db.session() as s:
        assert catalog.get_job(s, job_id).corpus_id == corpus.id


def test_cancel_queued_then_finished_is_409(db: Database, settings: Settings) -> None:
    job_id = _submit(db, settings)
    with db.session() as s:
        job = submission.cancel_job(s, job_id)
        assert job.status == JobStatus.CANCELLED and job.finished_at is not None
        with pytest.raises(JobStateError):
            submission.cancel_job(s, job_id)
        with pytest.raises(NotFoundError):
            submission.cancel_job(s, 12345)


def test_list_jobs_filters(db: Database, settings: Settings) -> None:
    a = _submit(db, settings)
    _submit(db, settings, model="local:/models/b")
    with db.session() as s:
        submission.cancel_job(s, a)
        listed = catalog.list_jobs(s, JobFilters(status="queued"))
        assert listed.total == 1 and listed.items[0].model_source == "local:/models/b"
        assert catalog.list_jobs(s, limit=1).total == 2

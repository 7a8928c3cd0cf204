"""Failure safety: a result is written whole or not at all; a full disk or a lost database
fails the job with a reason (or answers 503) and the service keeps answering."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from markovlens.service import catalog, submission
from markovlens.service.schemas import SubmitRequest
from markovlens.settings import Settings
from markovlens.store import Database, Result, open_database, repo_results
from markovlens.worker import claim
from markovlens.worker.runner import JobRunner, _Outcome
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from tests.conftest import TEST_HOSTS
from tests.security.conftest import AUTH, TOKEN

JOB = {"model": "builtin:smollm2-135m", "corpus": "builtin:python-docs", "preset": "quick"}
WORKER = "test-worker"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", embedded_worker=False)


@pytest.fixture
def db(settings: Settings) -> Database:
    database = open_database(settings.resolved_database_url)
    yield database
    database.dispose()


def running_job(db: Database, settings: Settings) -> int:
    with db.session() as session:
        job = submission.submit_job(session, SubmitRequest(**JOB), settings=settings, enqueue=False)
        job_id = job.id
    with db.session() as session:
        assert claim.claim_job(session, job_id, WORKER, 60.0) is not None
    return job_id


def disk_full(*args: object, **kwargs: object) -> None:
    raise OperationalError(
        "INSERT INTO results", {}, sqlite3.OperationalError("database or disk is full")
    )


def connection_lost(*args: object, **kwargs: object) -> None:
    raise OperationalError(
        "INSERT INTO results", {}, sqlite3.OperationalError("server closed the connection")
    )


def enospc(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def half_write_then_fail(session, job, payload, arrays, **kwargs):  # type: ignore[no-untyped-def]
    """Stage the row (as the real writer does), then fail before the commit."""
    real_add_result(session, job, payload, arrays)
    session.flush()  # the row is in the open transaction...
    raise OSError(errno.ENOSPC, "No space left on device")  # ...and the commit never comes


real_add_result = repo_results.add_result


@pytest.mark.parametrize(
    ("writer", "reason"),
    [
        (disk_full, "disk is full"),
        (connection_lost, "closed the connection"),
        (enospc, "No space left on device"),
        (half_write_then_fail, "No space left on device"),
    ],
    ids=["sqlite-full", "connection-lost", "enospc", "half-written"],
)
def test_result_write_failure_fails_the_job_without_a_partial_row(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch, writer, reason: str
) -> None:
    job_id = running_job(db, settings)
    monkeypatch.setattr(repo_results, "add_result", writer)
    runner = JobRunner(db, settings, WORKER)
    outcome = _Outcome(result=({"schema_version": 1, "x": 1.0}, b"arrays"))
    assert runner._record(job_id, outcome, None) == "failed"
    with db.session() as session:
        job = catalog.get_job(session, job_id)
        assert job.status == "failed"
        assert job.error is not None and "could not store the result" in job.error
        assert reason in job.error
        assert session.scalar(select(func.count()).select_from(Result)) == 0
    # The worker is fine: the next job records normally.
    monkeypatch.setattr(repo_results, "add_result", real_add_result)
    with db.session() as session:
        forced = SubmitRequest(**JOB, force=True)
        next_id = submission.submit_job(session, forced, settings=settings, enqueue=False).id
    with db.session() as session:
        claim.claim_job(session, next_id, WORKER, 60.0)
    assert runner._record(next_id, outcome, None) == "succeeded"
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Result)) == 1


def test_success_writes_status_and_result_in_one_transaction(
    db: Database, settings: Settings
) -> None:
    job_id = running_job(db, settings)
    with db.session() as session:
        assert claim.finish_succeeded(session, job_id, WORKER, {"schema_version": 1}, b"a")
        job = catalog.get_job(session, job_id)
        assert job.status == "succeeded"
        assert repo_results.get_result_for_job(session, job_id) is not None


def test_database_outage_is_a_503_and_the_api_recovers(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_list = catalog.list_jobs
    monkeypatch.setattr(catalog, "list_jobs", connection_lost)
    outage = client.get("/api/v1/jobs")
    assert outage.status_code == 503
    assert "database unavailable" in outage.json()["detail"]
    assert "INSERT" not in outage.text  # no SQL or driver text leaks out
    assert outage.headers["retry-after"]
    monkeypatch.setattr(submission, "create_upload_corpus", disk_full)
    full = client.post("/api/v1/corpora", files={"file": ("a.txt", b"text")}, headers=AUTH)
    assert full.status_code == 503 and "disk is full" in full.json()["detail"]
    monkeypatch.setattr(catalog, "list_jobs", real_list)
    assert client.get("/api/v1/jobs").status_code == 200
    assert client.get("/api/v1/health").status_code == 200


@pytest.mark.postgres
def test_lost_postgres_connection_is_a_503_and_the_api_recovers(
    tmp_path: Path, frontend_dir: Path
) -> None:
    """A real outage: every server connection killed and new ones refused, then allowed again."""
    import psycopg
    from markovlens.api import create_app

    from tests.api.conftest import PG_ADMIN_URL, postgres_database

    with postgres_database() as url:
        name = url.rsplit("/", 1)[1]
        settings = Settings(
            data_dir=tmp_path / "data",
            embedded_worker=False,
            database_url=url,
            api_tokens=[TOKEN],
            allowed_hosts=TEST_HOSTS,
        )
        with TestClient(create_app(settings, frontend_dir=frontend_dir)) as client:
            assert client.post("/api/v1/jobs", json=JOB, headers=AUTH).status_code == 201
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )
            try:
                for path in ("/api/v1/jobs", "/api/v1/models"):
                    response = client.get(path)
                    assert response.status_code == 503, response.text
                    assert "database unavailable" in response.json()["detail"]
                    assert "postgres" not in response.text.lower()  # no URL or driver text
                forced = {**JOB, "force": True}
                assert client.post("/api/v1/jobs", json=forced, headers=AUTH).status_code == 503
            finally:
                with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                    admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            assert client.get("/api/v1/jobs").json()["total"] == 1  # nothing half-written
            assert client.get("/api/v1/health").status_code == 200

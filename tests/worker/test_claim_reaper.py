"""Claim, heartbeat, finish and reaper semantics on SQLite and Postgres (no child processes)."""

from __future__ import annotations

import threading
from datetime import timedelta

from markovlens.service import catalog, submission
from markovlens.service.schemas import SubmitRequest
from markovlens.settings import Settings
from markovlens.store import Database
from markovlens.store.tables import Job, Result, utcnow
from markovlens.worker import claim, reaper
from sqlalchemy import func, select, update


def _new_job(db: Database, settings: Settings, **kw: object) -> int:
    values: dict[str, object] = {"model": "local:/m", "corpus": "builtin:python-docs"}
    values.update(kw)
    with db.session() as s:
        request = SubmitRequest(**values)  # type: ignore[arg-type]
        return submission.submit_job(s, request, settings=settings, enqueue=False).id


def _expire_lease(db: Database, job_id: int) -> None:
    with db.session() as s:
        s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
        s.commit()


def test_claim_is_atomic_across_threads(db: Database, settings: Settings) -> None:
    job_id = _new_job(db, settings)
    winners: list[str] = []
    barrier = threading.Barrier(4)

    def contender(name: str) -> None:
        barrier.wait()
        with db.session() as s:
            if claim.claim_job(s, job_id, name, 30) is not None:
                winners.append(name)

    threads = [threading.Thread(target=contender, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    with db.session() as s:
        job = catalog.get_job(s, job_id)
        assert job.status == "running" and job.attempts == 1 and job.lease_owner == winners[0]
        assert job.lease_expires_at is not None and job.lease_expires_at > utcnow()


def test_heartbeat_reports_cancel_and_lost_lease(db: Database, settings: Settings) -> None:
    job_id = _new_job(db, settings)
    with db.session() as s:
        assert claim.claim_job(s, job_id, "w1", 30) is not None
        assert claim.heartbeat(s, job_id, "w1", 30, progress=0.4, stage="forward") == "ok"
        assert claim.heartbeat(s, job_id, "intruder", 30) == "lost"
        assert catalog.job_out(s, catalog.get_job(s, job_id)).progress == 0.4
        submission.cancel_job(s, job_id)
        assert claim.heartbeat(s, job_id, "w1", 30, progress=0.5, stage="forward") == "cancel"
        s.expire_all()  # read the row, not the session's copy
        assert catalog.get_job(s, job_id).stage == "cancelling"
        assert claim.finish_cancelled(s, job_id, "w1")
        assert catalog.get_job(s, job_id).status == "cancelled"
        assert claim.heartbeat(s, job_id, "w1", 30) == "lost"


def test_success_writes_status_and_result_together(db: Database, settings: Settings) -> None:
    job_id = _new_job(db, settings)
    with db.session() as s:
        claim.claim_job(s, job_id, "w1", 30)
        # a worker whose lease was lost records nothing at all
        assert not claim.finish_succeeded(s, job_id, "w2", {"schema_version": 1}, b"blob")
        assert s.scalar(select(func.count()).select_from(Result)) == 0
        assert catalog.get_job(s, job_id).status == "running"
        assert claim.finish_succeeded(s, job_id, "w1", {"schema_version": 1}, b"blob")
        out = catalog.job_out(s, catalog.get_job(s, job_id))
        assert out.status == "succeeded" and out.result_id is not None and out.progress == 1.0
        assert catalog.get_result(s, out.result_id).arrays == b"blob"
        assert not claim.finish_failed(s, job_id, "w1", "too late")  # terminal stays terminal


def test_reaper_requeues_then_fails_after_max_attempts(db: Database, settings: Settings) -> None:
    job_id = _new_job(db, settings)
    max_attempts = settings.max_attempts
    for attempt in range(1, max_attempts + 1):
        with db.session() as s:
            assert claim.claim_job(s, job_id, f"w{attempt}", 30) is not None
            assert reaper.reap_expired(s) == []  # lease still valid
        _expire_lease(db, job_id)
        with db.session() as s:
            todo = reaper.reap_expired(s)
            job = catalog.get_job(s, job_id)
            s.refresh(job)
        if attempt < max_attempts:
            assert todo == [reaper.Requeued(job_id, "cpu")]
            assert job.status == "queued" and job.lease_owner is None
        else:
            assert todo == []
            assert job.status == "failed"
            assert job.error == f"worker lost {max_attempts} times (lease expired)"
    with db.session() as s:
        assert catalog.get_job(s, job_id).attempts == max_attempts


def test_reaper_cancels_an_abandoned_cancel_request(db: Database, settings: Settings) -> None:
    job_id = _new_job(db, settings)
    with db.session() as s:
        claim.claim_job(s, job_id, "w1", 30)
        submission.cancel_job(s, job_id)
    _expire_lease(db, job_id)
    with db.session() as s:
        assert reaper.reap_expired(s) == []
        assert catalog.get_job(s, job_id).status == "cancelled"


def test_release_requeues_without_counting_the_attempt(db: Database, settings: Settings) -> None:
    job_id = _new_job(db, settings)
    with db.session() as s:
        claim.claim_job(s, job_id, "w1", 30)
        assert claim.release_job(s, job_id, "w1")
        job = catalog.get_job(s, job_id)
        s.refresh(job)
        assert job.status == "queued" and job.attempts == 0


def test_stale_queued_jobs_are_resent_once_per_period(db: Database, settings: Settings) -> None:
    job_id = _new_job(db, settings)
    with db.session() as s:
        assert reaper.stale_queued(s, timedelta(minutes=5)) == []
        later = utcnow() + timedelta(minutes=6)
        assert reaper.stale_queued(s, timedelta(minutes=5), now=later) == [
            reaper.Requeued(job_id, "cpu")
        ]
        assert reaper.stale_queued(s, timedelta(minutes=5), now=later) == []
        much_later = later + timedelta(minutes=6)
        busy = reaper.stale_queued(
            s, timedelta(minutes=5), now=much_later, queue_is_empty=lambda q: False
        )
        assert busy == []  # messages are still pending on that queue: no duplicate


def test_model_meta_is_recorded_on_the_models_row(db: Database, settings: Settings) -> None:
    job_id = _new_job(db, settings)
    with db.session() as s:
        claim.record_model_meta(
            s, job_id, {"architecture": "LlamaForCausalLM", "num_layers": 30, "training_step": 7}
        )
        job = catalog.get_job(s, job_id)
        model = catalog.model_out(s, catalog.get_model(s, job.model_id))
    assert (model.architecture, model.num_layers, model.training_step) == (
        "LlamaForCausalLM",
        30,
        7,
    )


def test_sqlite_submissions_survive_concurrent_heartbeats(
    sqlite_url: str, tmp_path: object
) -> None:
    """Read-then-write units must wait for the write lock, not fail with 'database is locked'."""
    from pathlib import Path

    from markovlens.store import open_database

    from tests.worker.conftest import make_settings

    settings = make_settings(Path(str(tmp_path)), sqlite_url)
    db = open_database(sqlite_url)
    running = _new_job(db, settings)
    with db.session() as s:
        claim.claim_job(s, running, "w1", 30)
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            with db.session() as s:
                claim.heartbeat(s, running, "w1", 30, progress=0.5, stage="x")

    thread = threading.Thread(target=beat)
    thread.start()
    try:
        ids = {_new_job(db, settings, config={"seed": i}) for i in range(40)}
    finally:
        stop.set()
        thread.join()
        db.dispose()
    assert len(ids) == 40

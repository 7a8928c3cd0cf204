"""Graceful stop: a running job finishes (drain) or is requeued, never lost or double-counted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from markovlens.service import catalog, submission
from markovlens.settings import Settings
from markovlens.store import open_database
from markovlens.worker.queue import pending_count
from markovlens.worker.worker import Worker, start_embedded

from tests.worker.child_targets import floods_progress, sleeps_quietly, succeeds_after_2s
from tests.worker.helpers import (
    cancel_at_stage,
    job_state,
    running_worker,
    submit,
    wait_for,
    wait_status,
)

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_fake_child_result_is_recorded(settings: Settings) -> None:
    with running_worker(settings, child_target=succeeds_after_2s) as (db, _):
        job_id = submit(db, settings, "local:/fake")
        job = wait_status(db, job_id, {"succeeded", "failed"}, timeout=60)
        assert job.status == "succeeded" and job.result_id is not None
        with db.session() as s:
            assert catalog.get_result(s, job.result_id).payload == {
                "schema_version": 1,
                "job": job_id,
            }
            model = catalog.get_model(s, job.model_id)
            assert (model.architecture, model.num_layers) == ("FakeForCausalLM", 3)


def test_cancel_is_seen_while_the_child_floods_the_pipe(settings: Settings) -> None:
    with running_worker(settings, child_target=floods_progress) as (db, _):
        assert cancel_at_stage(db, settings, "flood", timeout=10).result_id is None


def test_cancel_is_prompt_with_a_long_heartbeat_period(settings: Settings) -> None:
    slow_beats = settings.model_copy(update={"heartbeat_seconds": 60.0, "lease_seconds": 120.0})
    with running_worker(slow_beats, child_target=sleeps_quietly) as (db, _):
        assert cancel_at_stage(db, slow_beats, "quiet", timeout=5).result_id is None


def test_stop_without_drain_requeues_the_running_job(settings: Settings) -> None:
    db = open_database(settings.resolved_database_url)
    worker = Worker(settings, ["cpu"], db=db, child_target=succeeds_after_2s).start()
    job_id = submit(db, settings, "local:/fake")
    wait_for(lambda: job_state(db, job_id).stage == "fake", 60, "the child to report")
    worker.stop(drain_seconds=0)
    job = job_state(db, job_id)
    assert job.status == "queued" and job.attempts == 0 and job.result_id is None
    assert pending_count(settings.resolved_queue_url, "cpu") == 1  # sent again
    # a new worker picks it up and finishes it
    worker = Worker(settings, ["cpu"], db=db, child_target=succeeds_after_2s).start()
    try:
        job = wait_status(db, job_id, {"succeeded"}, timeout=60)
        assert job.attempts == 1
    finally:
        worker.stop(drain_seconds=0)
        db.dispose()


def test_embedded_worker_runs_and_stops(settings: Settings) -> None:
    db = open_database(settings.resolved_database_url)
    embedded = start_embedded(settings, db=db, child_target=succeeds_after_2s)
    try:
        assert embedded.worker.alive and embedded.worker_id.count(":") == 2
        job_id = submit(db, settings, "local:/fake")
        job = wait_status(db, job_id, {"failed", "succeeded"}, timeout=90)
        assert job.status == "succeeded"
    finally:
        embedded.stop(drain_seconds=0)
    assert not embedded.worker.alive
    db.dispose()


def test_sigterm_lets_the_running_job_finish(settings: Settings, tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import logging, sys
        from markovlens.worker.worker import run_worker
        from markovlens.settings import Settings
        from tests.worker.child_targets import floods_progress, sleeps_quietly, succeeds_after_2s
        logging.basicConfig(level=logging.INFO)
        settings = Settings.model_validate_json(sys.argv[1])
        run_worker(settings, ["cpu"], child_target=succeeds_after_2s, drain_seconds=60)
        """
    )
    db = open_database(settings.resolved_database_url)
    proc = subprocess.Popen(
        [sys.executable, "-c", script, settings.model_dump_json()],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        job_id = submit(db, settings, "local:/fake")
        wait_for(lambda: job_state(db, job_id).stage == "fake", 60, "the child to report")
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(60) == 0
        job = job_state(db, job_id)
        assert job.status == "succeeded" and job.attempts == 1
        assert b"finishing the running job" in (proc.stdout.read() if proc.stdout else b"")
    finally:
        if proc.poll() is None:
            proc.kill()
        db.dispose()


def test_a_lost_message_is_resent_and_the_job_runs(settings: Settings) -> None:
    """A queued job whose message vanished (broker restart) is found by the reaper."""
    from datetime import timedelta

    from markovlens.service.schemas import SubmitRequest

    db = open_database(settings.resolved_database_url)
    with db.session() as s:
        request = SubmitRequest(model="local:/lost", corpus="builtin:python-docs")
        job_id = submission.submit_job(s, request, settings=settings, enqueue=False).id
    worker = Worker(settings, ["cpu"], db=db, child_target=succeeds_after_2s)
    assert pending_count(settings.resolved_queue_url, "cpu") == 0
    worker.reap_once(stale_after=timedelta(seconds=0))
    assert pending_count(settings.resolved_queue_url, "cpu") == 1
    worker.start()
    try:
        assert wait_status(db, job_id, {"succeeded"}, timeout=60).attempts == 1
    finally:
        worker.stop(drain_seconds=0)
        db.dispose()

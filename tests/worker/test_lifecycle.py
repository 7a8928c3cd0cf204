"""Job life cycle with real tiny models through the real worker, child process and database."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest
from markovlens.service import catalog, submission
from markovlens.settings import Settings
from markovlens.store import Database
from markovlens.store.arrays import unpack_arrays
from markovlens.worker.worker import Worker

from tests.worker.conftest import make_settings
from tests.worker.helpers import (
    cancel_at_stage,
    job_children,
    job_state,
    running_worker,
    submit,
    wait_for,
    wait_status,
)


@pytest.fixture
def tiny_settings(tmp_path: Path, db_url: str, tiny_model_dirs: dict[str, Path]) -> Settings:
    root = next(iter(tiny_model_dirs.values())).parent
    return make_settings(tmp_path, db_url, model_roots=[root], lease_seconds=10.0)


@pytest.fixture
def running(tiny_settings: Settings) -> Iterator[tuple[Worker, Database]]:
    with running_worker(tiny_settings) as (db, worker):
        yield worker, db


def test_job_succeeds_and_stores_result(
    running: tuple[Worker, Database], tiny_model_dirs: dict[str, Path]
) -> None:
    worker, db = running
    job_id = submit(db, worker.settings, f"local:{tiny_model_dirs['llama']}")
    job = wait_status(db, job_id, {"succeeded", "failed"}, timeout=120)
    assert job.status == "succeeded", job.error
    assert job.attempts == 1 and job.progress == 1.0 and job.result_id is not None
    with db.session() as s:
        result = catalog.get_result(s, job.result_id)
        payload = result.payload
        assert payload["provenance"]["model"]["source"] == job.model_source
        assert payload["provenance"]["corpus"]["num_tokens"] == 1024
        arrays = unpack_arrays(result.arrays)
        assert arrays["nll"].size == 16 * 63
        assert np.isfinite(arrays["nll"]).all()
        model = catalog.model_out(s, catalog.get_model(s, job.model_id))
    # The worker filled the model row from what loading revealed.
    assert model.architecture and model.num_layers == 2 and model.vocab_size == 384
    assert model.latest and model.latest[0].result_id == job.result_id
    headline = model.latest[0].headline
    assert headline.mean_nll == pytest.approx(float(arrays["nll"].mean()), rel=1e-5)
    # a random tiny model predicts roughly uniformly over 384 tokens
    assert 4.0 < headline.mean_nll < 8.0
    # The outcome is recorded first; the child then exits (or is stopped after a grace period).
    wait_for(lambda: not job_children(os.getpid()), 15, "the child to exit")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_model_that_fails_to_load_fails_with_its_reason(
    running: tuple[Worker, Database], tmp_path: Path
) -> None:
    worker, db = running
    missing = tmp_path / "no-such-model"
    job_id = submit(db, worker.settings, f"local:{missing}")
    job = wait_status(db, job_id, {"succeeded", "failed"}, timeout=90)
    assert job.status == "failed" and job.attempts == 1
    assert job.error and "no-such-model" in job.error
    assert "Traceback" not in job.error
    assert job.result_id is None


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cancel_running_job_stops_child_within_10s(
    running: tuple[Worker, Database], tiny_model_dirs: dict[str, Path]
) -> None:
    worker, db = running
    # A bigger corpus keeps the job busy long enough to be cancelled mid-run.
    job_id = submit(
        db,
        worker.settings,
        f"local:{tiny_model_dirs['gpt2']}",
        config={
            "window_len": 128,
            # ~7 s of work after the capture on an idle 2-core machine (surplus probes and the
            # spectral suite on N = 6,144): a job that could end before the cancel lands would
            # make this test pass or fail by timing alone.
            "max_tokens": 131_072,
            "run_surplus": True,
            "run_spectral": True,
            "n_contexts": 6144,
            "bootstrap_samples": 50,
        },
    )
    # Cancel in the analysis proper (model and corpus loaded), not during start-up.
    wait_for(lambda: job_state(db, job_id).progress >= 0.1, 90, "the analysis to start")
    kids = job_children(os.getpid())
    assert kids and job_state(db, job_id).status == "running"
    with db.session() as s:
        assert submission.cancel_job(s, job_id).cancel_requested
    started = time.monotonic()
    job = wait_status(db, job_id, {"cancelled", "succeeded", "failed"}, timeout=10)
    assert job.status == "cancelled", job
    assert time.monotonic() - started < 10
    assert job.result_id is None and job.finished_at is not None
    assert job_children(os.getpid()) == []
    assert all(not psutil.pid_exists(k.pid) for k in kids)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("target", "needle"),
    [
        ("exits_with_code_7", "exited with code 7 without a result"),
        ("dies_by_segfault", "killed by SIGSEGV"),
    ],
)
def test_child_crash_fails_the_attempt_not_the_worker(
    tiny_settings: Settings, target: str, needle: str
) -> None:
    from tests.worker import child_targets

    target_fn = getattr(child_targets, target)
    with running_worker(tiny_settings, child_target=target_fn) as (db, worker):
        first = submit(db, tiny_settings, "local:/anything")
        job = wait_status(db, first, {"succeeded", "failed"}, timeout=60)
        assert job.status == "failed" and needle in (job.error or ""), job.error
        # the worker survives and takes the next job
        second = submit(db, tiny_settings, "local:/other")
        assert wait_status(db, second, {"failed"}, timeout=60).attempts == 1
        assert worker.alive


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cancel_escalates_to_sigkill(tiny_settings: Settings) -> None:
    from tests.worker.child_targets import ignores_sigterm

    with running_worker(tiny_settings, child_target=ignores_sigterm) as (db, _):
        job = cancel_at_stage(db, tiny_settings, "stubborn", timeout=10)
        assert job.finished_at is not None
        assert job_children(os.getpid()) == []

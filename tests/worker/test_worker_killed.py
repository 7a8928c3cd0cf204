"""A worker killed with SIGKILL mid-job: the lease expires, the reaper requeues, it succeeds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from markovlens.store import open_database
from markovlens.worker.worker import Worker

from tests.worker.conftest import make_settings
from tests.worker.helpers import job_children, job_state, submit, wait_for, wait_status

LEASE_SECONDS = 3.0


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sigkilled_worker_job_is_requeued_and_succeeds(
    tmp_path: Path, db_url: str, tiny_model_dirs: dict[str, Path]
) -> None:
    root = next(iter(tiny_model_dirs.values())).parent
    settings = make_settings(tmp_path, db_url, model_roots=[root], lease_seconds=LEASE_SECONDS)
    env = {
        **os.environ,
        "MARKOVLENS_DATA_DIR": str(settings.data_dir),
        "MARKOVLENS_DATABASE_URL": settings.resolved_database_url,
        "MARKOVLENS_QUEUE_URL": settings.resolved_queue_url,
        "MARKOVLENS_MODEL_ROOTS": json.dumps([str(p) for p in settings.model_roots]),
        "MARKOVLENS_LEASE_SECONDS": str(LEASE_SECONDS),
        "MARKOVLENS_HEARTBEAT_SECONDS": "0.5",
        "MARKOVLENS_REAPER_INTERVAL_SECONDS": "0.5",
    }
    db = open_database(settings.resolved_database_url)
    log_file = (tmp_path / "worker-a.log").open("w")
    worker_a = subprocess.Popen(
        [sys.executable, "-m", "markovlens.worker.worker", "cpu"],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    worker_b: Worker | None = None
    try:
        job_id = submit(db, settings, f"local:{tiny_model_dirs['llama']}")
        # Kill A while its child is working on the job (claimed, child alive): whatever the
        # machine's speed, the job cannot have finished yet.
        wait_status(db, job_id, {"running"}, timeout=60)
        children = wait_for(lambda: job_children(worker_a.pid), 30, "worker A's child")
        assert len(children) == 1
        os.kill(worker_a.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        worker_a.wait(10)
        # The orphaned child notices its parent is gone and exits: nothing keeps computing.
        wait_for(lambda: _gone(children[0].pid), 10, "worker A's child to exit")
        assert job_state(db, job_id).status == "running"  # the row still says A has it

        worker_b = Worker(settings, ["cpu"], db=db).start()
        wait_for(lambda: job_state(db, job_id).attempts == 2, 30, "the second attempt")
        # A's last heartbeat was at most 0.5 s before the kill: no requeue before the lease ends.
        assert time.monotonic() - killed_at >= LEASE_SECONDS - 1.0
        job = wait_status(db, job_id, {"succeeded", "failed"}, timeout=180)
        assert job.status == "succeeded", job.error
        assert job.attempts == 2 and job.result_id is not None
    finally:
        if worker_a.poll() is None:
            worker_a.kill()
        log_file.close()
        if worker_b is not None:
            worker_b.stop(drain_seconds=0)
        db.dispose()

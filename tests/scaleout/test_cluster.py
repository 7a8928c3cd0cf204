"""Scale-out on this machine's Redis and PostgreSQL servers: separate API and worker
processes (as in docker-compose), private Redis and database (see cluster.py).

The two tests share one deployment (module fixture) because starting it costs more than the
jobs; the second kills a worker, so it runs last. Budget: ~3 min on an idle 2-core machine,
more when the machine is shared (each job starts a fresh Python process with torch).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from markovlens.store import open_database
from markovlens.store.repo_workers import WorkerRow
from markovlens.store.tables import Job, Result
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from tests.scaleout.cluster import Cluster
from tests.worker.helpers import FAST_CONFIG, wait_for

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

# Long enough on the tiny model to be caught mid-job (~10 s of analysis on an idle machine,
# most of it the surplus probes on 32k tokens), short enough to finish twice: the probes' step
# cap is trimmed because their cost grows with the tokens (they train on every position).
LONG_CONFIG = {
    **FAST_CONFIG,
    "window_len": 128,
    "max_tokens": 32_768,
    "n_contexts": 2048,
    "run_surplus": True,
    "run_spectral": True,
    "surplus": {"max_steps": 60, "max_epochs": 4},
}
JOB_TIMEOUT = 240.0


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dirs: dict[str, Path]
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    model_root = next(iter(tiny_model_dirs.values())).parent
    deployment = Cluster(root, model_root, lease_seconds=5.0)
    deployment.create_database()
    try:
        deployment.start_redis()
        deployment.start_api()  # migrates the fresh database before serving
        deployment.start_worker("worker-a")
        deployment.start_worker("worker-b")
        yield deployment
    finally:
        deployment.close()
        deployment.drop_database()


@pytest.fixture(scope="module")
def db(cluster: Cluster) -> Iterator[object]:
    database = open_database(cluster.database_url, migrate=False)
    yield database
    database.dispose()


def _jobs(db, ids: list[int]) -> list[Job]:  # type: ignore[no-untyped-def]
    with db.session() as session:
        return list(session.scalars(select(Job).where(Job.id.in_(ids)).order_by(Job.id)))


def _all_finished(db, ids: list[int]) -> list[Job] | None:  # type: ignore[no-untyped-def]
    jobs = _jobs(db, ids)
    failed = [j for j in jobs if j.status in ("failed", "cancelled")]
    assert not failed, [(j.id, j.status, j.error) for j in failed]
    return jobs if all(j.status == "succeeded" for j in jobs) else None


def _result_counts(db, ids: list[int]) -> dict[int, int]:  # type: ignore[no-untyped-def]
    with db.session() as session:
        rows = session.execute(
            select(Result.job_id, func.count())
            .where(Result.job_id.in_(ids))
            .group_by(Result.job_id)
        )
        return {int(job_id): int(n) for job_id, n in rows}


def _worker_pid(lease_owner: str) -> int:
    return int(lease_owner.split(":")[1])  # host:pid:random (runner.new_worker_id)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _metrics(cluster: Cluster) -> dict[str, list]:
    text = cluster.get("/metrics")
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_six_jobs_two_workers_each_once_through_redis_and_api_restarts(
    cluster: Cluster,
    db,  # type: ignore[no-untyped-def]
) -> None:
    """Two workers, six jobs; Redis and the API are restarted while the jobs run (one
    scenario instead of three: each job costs a process start-up on this shared machine)."""
    model = f"local:{cluster.model_root / 'llama'}"
    ids = [cluster.submit(model, {**FAST_CONFIG, "seed": i}) for i in range(6)]
    wait_for(lambda: any(j.status == "running" for j in _jobs(db, ids)), 90, "a job to start", 0.2)
    pending = [j.id for j in _jobs(db, ids) if j.status == "queued"]
    cluster.stop_redis()  # queued messages are on disk (append-only file)
    cluster.stop_api()
    time.sleep(2.0)  # the workers meet the outage: their dequeues fail and are retried
    cluster.start_redis()
    cluster.start_api()

    jobs = wait_for(lambda: _all_finished(db, ids), JOB_TIMEOUT, "six jobs to succeed", 0.5)
    assert pending, "no job was still queued across the Redis restart"
    assert _result_counts(db, ids) == {job_id: 1 for job_id in ids}  # no duplicate result rows
    assert all(job.attempts == 1 for job in jobs), [(j.id, j.attempts) for j in jobs]
    pids = {_worker_pid(job.lease_owner) for job in jobs}  # type: ignore[arg-type]
    assert pids == {cluster.workers["worker-a"].pid, cluster.workers["worker-b"].pid}
    assert all(p.poll() is None for p in cluster.workers.values())  # no worker died
    # Results are served by the restarted API process, which ran no job.
    for job_id in ids:
        job = cluster.get(f"/api/v1/jobs/{job_id}")
        assert job["status"] == "succeeded"
        assert cluster.get(f"/api/v1/results/{job['result_id']}")["job_id"] == job_id

    # Both workers advertised themselves and heartbeat; /metrics sees them and the jobs.
    with db.session() as session:
        workers = list(session.scalars(select(WorkerRow).where(WorkerRow.status != "stopped")))
    assert {w.pid for w in workers} == pids
    assert all(w.queues == ["cpu"] and w.device == "cpu" and w.memory_bytes > 0 for w in workers)
    families = _metrics(cluster)
    assert sum(s.value for s in families["markovlens_worker_up"]) == 2.0
    succeeded = [
        s.value
        for s in families["markovlens_jobs"]
        if s.labels == {"status": "succeeded", "queue": "cpu"}
    ]
    assert succeeded == [6.0]
    assert [s.value for s in families["markovlens_queue_depth"]] == [0.0]
    # Structured logs: each job's lines in the workers' logs carry its id.
    lines = [
        json.loads(line)
        for name in ("worker-a", "worker-b")
        for line in cluster.log_text(name).splitlines()
        if line.startswith("{")
    ]
    assert {entry.get("job_id") for entry in lines} >= set(ids)


def test_sigkilled_worker_job_is_requeued_and_finishes_on_the_other(cluster: Cluster, db) -> None:  # type: ignore[no-untyped-def]
    model = f"local:{cluster.model_root / 'llama'}"
    job_id = cluster.submit(model, LONG_CONFIG)

    def running_with_progress() -> Job | None:
        (job,) = _jobs(db, [job_id])
        return job if job.status == "running" and job.progress >= 0.1 else None

    job = wait_for(running_with_progress, 120, "the long job to be mid-way", 0.2)
    victim_pid = _worker_pid(job.lease_owner)  # type: ignore[arg-type]
    (victim,) = [name for name, p in cluster.workers.items() if p.pid == victim_pid]
    survivor = next(name for name in cluster.workers if name != victim)
    children = psutil.Process(victim_pid).children(recursive=True)
    cluster.kill_worker(victim)
    killed_at = time.monotonic()

    wait_for(
        lambda: [j for j in _jobs(db, [job_id]) if j.attempts == 2 or j.status == "queued"],
        60,
        "the reaper to requeue the job",
        0.2,
    )
    assert time.monotonic() - killed_at >= cluster.lease_seconds - 1.5  # not before expiry
    (done,) = wait_for(lambda: _all_finished(db, [job_id]), JOB_TIMEOUT, "the job to succeed", 0.5)
    assert done.attempts == 2
    assert _worker_pid(done.lease_owner) == cluster.workers[survivor].pid  # type: ignore[arg-type]
    assert _result_counts(db, [job_id]) == {job_id: 1}
    # The killed worker's analysis child noticed its parent died and exited.
    wait_for(lambda: not any(_alive(c) for c in children), 15, "the orphaned child to exit")

    # Its heartbeat stopped: once older than MARKOVLENS_WORKER_SEEN_SECONDS, /metrics counts
    # only the survivor as up.
    def workers_up() -> float:
        return sum(s.value for s in _metrics(cluster)["markovlens_worker_up"])

    wait_for(lambda: workers_up() == 1.0, 30, "the killed worker to be reported down", 1.0)

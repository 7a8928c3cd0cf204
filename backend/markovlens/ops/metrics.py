"""``GET /metrics``: Prometheus exposition of the whole deployment, read from the database.

The database row is the truth, so the API computes every number at scrape time from the
tables (jobs by status, job durations, worker heartbeats) and the queue transport (depth):
one scrape target covers any number of workers, and a restarted API loses no history.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from markovlens.settings import Settings
from markovlens.store import Database, repo_workers
from markovlens.store.tables import Job, JobStatus, utcnow

log = logging.getLogger(__name__)

# Seconds: a tiny-model job takes seconds, a full-preset 7B job hours.
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
STATUSES = tuple(status.value for status in JobStatus)


def _histogram(durations: Iterable[float]) -> tuple[list[tuple[str, float]], float]:
    values = sorted(durations)
    buckets, index = [], 0
    for bound in DURATION_BUCKETS:
        while index < len(values) and values[index] <= bound:
            index += 1
        buckets.append((str(float(bound)), float(index)))
    buckets.append(("+Inf", float(len(values))))
    return buckets, float(sum(values))


class DeploymentCollector(Collector):
    """Reads jobs, workers and queue depths on every ``collect`` (i.e. every scrape)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings

    def collect(self) -> Iterator[Metric]:
        with self.db.session() as session:
            counts = list(
                session.execute(
                    select(Job.queue, Job.status, func.count()).group_by(Job.queue, Job.status)
                ).tuples()
            )
            finished = list(
                session.execute(
                    select(Job.queue, Job.status, Job.started_at, Job.finished_at).where(
                        Job.finished_at.is_not(None), Job.started_at.is_not(None)
                    )
                ).tuples()
            )
            workers = repo_workers.list_workers(session)
        queues = sorted({q for q, _s, _n in counts} | {q for w in workers for q in w.queues})
        yield from self._jobs(counts, queues)
        yield self._durations(finished)
        yield from self._workers(workers)
        yield from self._queue_depth(queues)

    def _jobs(self, counts: list[tuple[str, str, int]], queues: list[str]) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "markovlens_jobs",
            "Jobs by status and queue (database rows).",
            labels=["status", "queue"],
        )
        table = {(q, s): n for q, s, n in counts}
        for queue in queues:
            for status in STATUSES:
                family.add_metric([status, queue], float(table.get((queue, status), 0)))
        yield family

    def _durations(self, rows: list[tuple[str, str, datetime | None, datetime | None]]) -> Metric:
        family = HistogramMetricFamily(
            "markovlens_job_duration_seconds",
            "Wall time of finished jobs' last attempt (started_at to finished_at).",
            labels=["queue", "status"],
        )
        grouped: dict[tuple[str, str], list[float]] = {}
        for queue, status, started, finished in rows:
            if started is None or finished is None:  # the query excludes them; for the types
                continue
            seconds = (finished - started).total_seconds()
            grouped.setdefault((queue, status), []).append(max(0.0, seconds))
        for (queue, status), values in sorted(grouped.items()):
            buckets, total = _histogram(values)
            family.add_metric([queue, status], buckets, total)
        return family

    def _workers(self, workers: list[repo_workers.WorkerRow]) -> Iterator[Metric]:
        labels = ["worker", "hostname", "device", "queues"]
        heartbeat = GaugeMetricFamily(
            "markovlens_worker_heartbeat_timestamp_seconds",
            "Unix time of each worker's last heartbeat.",
            labels=labels,
        )
        up = GaugeMetricFamily(
            "markovlens_worker_up",
            "1 if the worker heartbeated within MARKOVLENS_WORKER_SEEN_SECONDS and did not stop.",
            labels=labels,
        )
        busy = GaugeMetricFamily(
            "markovlens_worker_busy", "1 while the worker runs a job.", labels=labels
        )
        memory = GaugeMetricFamily(
            "markovlens_worker_memory_bytes", "Memory the worker advertises.", labels=labels
        )
        done = GaugeMetricFamily(
            "markovlens_worker_jobs_done",
            "Jobs the worker finished since it started.",
            labels=labels,
        )
        cutoff = utcnow() - timedelta(seconds=self.settings.worker_seen_seconds)
        for row in workers:
            values = [row.id, row.hostname, row.device, ",".join(row.queues)]
            live = row.status != "stopped" and row.heartbeat_at >= cutoff
            heartbeat.add_metric(values, row.heartbeat_at.timestamp())
            up.add_metric(values, 1.0 if live else 0.0)
            busy.add_metric(values, 1.0 if live and row.current_job_id is not None else 0.0)
            memory.add_metric(values, float(row.memory_bytes))
            done.add_metric(values, float(row.jobs_done))
        yield from (heartbeat, up, busy, memory, done)

    def _queue_depth(self, queues: list[str]) -> Iterator[Metric]:
        from markovlens.worker.queue import pending_count

        depth = GaugeMetricFamily(
            "markovlens_queue_depth",
            "Messages waiting on each queue's transport.",
            labels=["queue"],
        )
        reachable = GaugeMetricFamily(
            "markovlens_queue_up",
            "1 if the queue transport answered this scrape.",
            labels=["queue"],
        )
        for queue in queues:
            try:
                depth.add_metric(
                    [queue], float(pending_count(self.settings.resolved_queue_url, queue))
                )
                reachable.add_metric([queue], 1.0)
            except Exception as exc:  # a broker outage is a metric, not a failed scrape
                log.warning("metrics: queue %s unreachable: %s", queue, exc)
                reachable.add_metric([queue], 0.0)
        yield from (depth, reachable)


def render_metrics(db: Database, settings: Settings) -> bytes:
    """The Prometheus text exposition of the deployment."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DeploymentCollector(db, settings))
    return generate_latest(registry)


router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=True, response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus metrics: jobs by status, queue depth, job durations, worker heartbeats."""
    body = render_metrics(request.app.state.db, request.app.state.settings)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)

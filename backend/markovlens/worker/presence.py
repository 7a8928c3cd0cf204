"""A worker's presence: it advertises device, memory and queues, then heartbeats its row.

The ``workers`` table feeds routing (which classes exist and what they hold, when none are
configured) and ``/metrics`` (worker heartbeats). The heartbeat runs on its own thread so a
long job never makes a live worker look dead.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from markovlens import __version__
from markovlens.settings import Settings
from markovlens.store import Database, repo_workers

log = logging.getLogger(__name__)

PRUNE_AFTER = timedelta(days=1)  # rows of workers silent this long are deleted at registration

_CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)


@dataclass(frozen=True)
class Hardware:
    """What this machine offers to one job."""

    device: str  # cpu | cuda | mps
    device_name: str | None
    gpu_count: int
    memory_bytes: int


def host_memory_bytes() -> int:
    """Physical memory, or the container's cgroup limit when that is lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in _CGROUP_LIMITS:
        try:
            raw = path.read_text().strip()
        except OSError:
            continue
        if raw.isdigit():
            total = min(total, int(raw))
    return int(total)


def detect_hardware(settings: Settings) -> Hardware:
    """The device a job would run on (``MARKOVLENS_DEVICE``) and its memory: all GPUs of the
    machine together on CUDA (device_map spreads a large model), RAM otherwise.
    ``MARKOVLENS_WORKER_MEMORY_GB`` overrides the measured memory (e.g. to leave headroom)."""
    import torch

    from markovlens.models.device import resolve_device

    device = resolve_device(settings.device)
    kind = device.split(":", 1)[0]
    name: str | None = None
    gpus = 0
    if kind == "cuda":
        indices = (
            [int(device.split(":", 1)[1])] if ":" in device else range(torch.cuda.device_count())
        )
        # Properties only: no allocation, so no CUDA context is created in the parent.
        props = [torch.cuda.get_device_properties(i) for i in indices]
        gpus, name = len(props), props[0].name if props else None
        memory = sum(int(p.total_memory) for p in props)
    else:
        memory = host_memory_bytes()
        name = "mps" if kind == "mps" else None
    if settings.worker_memory_gb:
        memory = int(settings.worker_memory_gb * (1 << 30))
    return Hardware(device=kind, device_name=name, gpu_count=gpus, memory_bytes=memory)


class Presence:
    """Registers the worker, heartbeats its row on a thread, marks it stopped at the end."""

    def __init__(self, db: Database, settings: Settings, worker_id: str, queues: list[str]) -> None:
        self.db, self.settings, self.worker_id, self.queues = db, settings, worker_id, queues
        self.interval = max(0.2, settings.heartbeat_seconds)
        self.hardware: Hardware | None = None
        self.current_job: int | None = None
        self.jobs_done = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Presence:
        self.hardware = detect_hardware(self.settings)
        self._register()
        log.info(
            "worker %s: advertises %s (%s), %.1f GiB, queues %s",
            self.worker_id,
            self.hardware.device,
            self.hardware.device_name or "-",
            self.hardware.memory_bytes / (1 << 30),
            ",".join(self.queues),
        )
        self._thread = threading.Thread(target=self._loop, name="markovlens-presence", daemon=True)
        self._thread.start()
        return self

    def job_started(self, job_id: int) -> None:
        self.current_job = job_id
        self._beat()

    def job_finished(self, *, counted: bool = True) -> None:
        """The job ended; ``counted`` is False when it was not ours (lost the claim)."""
        self.current_job = None
        self.jobs_done += int(counted)
        self._beat()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            with self.db.session() as session:
                repo_workers.mark_stopped(session, self.worker_id)
        except Exception:
            log.exception("worker %s: could not mark itself stopped", self.worker_id)

    def _register(self) -> None:
        assert self.hardware is not None
        with self.db.session() as session:
            repo_workers.prune(session, PRUNE_AFTER)
            repo_workers.register(
                session,
                self.worker_id,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                queues=list(self.queues),
                device=self.hardware.device,
                device_name=self.hardware.device_name,
                gpu_count=self.hardware.gpu_count,
                memory_bytes=self.hardware.memory_bytes,
                jobs_done=self.jobs_done,
                version=__version__,
            )

    def _beat(self) -> None:
        if self.hardware is None:  # never advertised (start failed): nothing to refresh
            return
        try:
            with self.db.session() as session:
                alive = repo_workers.heartbeat(
                    session,
                    self.worker_id,
                    current_job_id=self.current_job,
                    jobs_done=self.jobs_done,
                )
            if not alive:  # the row was deleted (admin clean-up): advertise again
                self._register()
        except Exception:
            # A database outage must not kill the worker; the next beat retries.
            log.exception("worker %s: presence heartbeat failed", self.worker_id)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._beat()

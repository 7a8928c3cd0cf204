"""A private scale-out deployment for tests: Redis, a PostgreSQL database, the API and
workers as separate processes, exactly as in docker-compose but on this machine.

Private on purpose: the Redis runs on a free port in a temporary directory and the database
is created for the test and dropped afterwards, so restarting or killing them never
disturbs other tests using the machine's shared servers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import IO, Any

import httpx
from sqlalchemy import create_engine, text

from tests.worker.helpers import wait_for

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARKOVLENS = str(Path(sys.executable).with_name("markovlens"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """Start/stop/kill the parts of a deployment; every process logs to ``root/<name>.log``."""

    def __init__(self, root: Path, model_root: Path, *, lease_seconds: float = 5.0) -> None:
        self.root = root
        self.redis_port, self.api_port = free_port(), free_port()
        self.database = f"mltest_{uuid.uuid4().hex[:12]}"
        self.database_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.database}"
        self.queue_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.model_root = model_root
        self.lease_seconds = lease_seconds
        self.redis: subprocess.Popen[bytes] | None = None
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []

    # -- environment -----------------------------------------------------------------------
    def env(self, name: str) -> dict[str, str]:
        return {
            **os.environ,
            "MARKOVLENS_DATA_DIR": str(self.root / f"data-{name}"),
            "MARKOVLENS_DATABASE_URL": self.database_url,
            "MARKOVLENS_QUEUE_URL": self.queue_url,
            "MARKOVLENS_MODEL_ROOTS": json.dumps([str(self.model_root)]),
            "MARKOVLENS_LEASE_SECONDS": str(self.lease_seconds),
            "MARKOVLENS_HEARTBEAT_SECONDS": "0.5",
            "MARKOVLENS_REAPER_INTERVAL_SECONDS": "0.5",
            "MARKOVLENS_WORKER_SEEN_SECONDS": "10",
            "MARKOVLENS_LOG_FORMAT": "json",
        }

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("ab")
        self._logs.append(log)
        return subprocess.Popen(
            args, env=self.env(name), stdout=log, stderr=subprocess.STDOUT, cwd=self.root
        )

    def log_text(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- database --------------------------------------------------------------------------
    def create_database(self) -> None:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.database}"'))
        admin.dispose()

    def drop_database(self) -> None:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
        admin.dispose()

    # -- redis -----------------------------------------------------------------------------
    def start_redis(self) -> None:
        # Append-only file, as in docker-compose: queued messages survive a restart.
        (self.root / "redis").mkdir(exist_ok=True)
        self.redis = self._spawn(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.root / "redis"),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--appendfsync",
                "always",
            ],
        )
        wait_for(self._redis_answers, 20, "the private redis-server to answer")

    def _redis_answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.redis_port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop_redis(self) -> None:
        if self.redis is not None:
            self.redis.terminate()
            self.redis.wait(20)
            self.redis = None

    # -- api -------------------------------------------------------------------------------
    def start_api(self) -> None:
        self.api = self._spawn(
            "api",
            [
                MARKOVLENS,
                "serve",
                "--no-worker",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.api_port),
            ],
        )
        wait_for(self._api_answers, 90, "the API to answer /health")

    def _api_answers(self) -> bool:
        assert self.api is not None
        if self.api.poll() is not None:
            raise AssertionError(f"the API exited:\n{self.log_text('api')[-3000:]}")
        try:
            return httpx.get(f"{self.api_url}/api/v1/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop_api(self) -> None:
        if self.api is not None:
            self.api.send_signal(signal.SIGTERM)
            self.api.wait(30)
            self.api = None

    # -- workers ---------------------------------------------------------------------------
    def start_worker(self, name: str, queue: str = "cpu") -> subprocess.Popen[bytes]:
        self.workers[name] = self._spawn(name, [MARKOVLENS, "worker", "--queue", queue])
        return self.workers[name]

    def kill_worker(self, name: str) -> None:
        process = self.workers.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop_worker(self, name: str, timeout: float = 60) -> int:
        process = self.workers.pop(name)
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout)

    # -- client ----------------------------------------------------------------------------
    def get(self, path: str) -> Any:
        response = httpx.get(f"{self.api_url}{path}", timeout=10)
        response.raise_for_status()
        return (
            response.json() if "json" in response.headers.get("content-type", "") else response.text
        )

    def submit(self, model: str, config: dict[str, Any], **extra: Any) -> int:
        body = {
            "model": model,
            "corpus": "builtin:python-docs",
            "preset": "quick",
            "config": config,
            "force": True,
            **extra,
        }
        response = httpx.post(f"{self.api_url}/api/v1/jobs", json=body, timeout=60)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    # -- teardown --------------------------------------------------------------------------
    def close(self) -> None:
        for name in list(self.workers):
            process = self.workers.pop(name)
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for stop in (self.stop_api, self.stop_redis):
            with contextlib.suppress(Exception):
                stop()
        for log in self._logs:
            log.close()

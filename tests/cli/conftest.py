"""CLI fixtures: a live API server (uvicorn in a thread) on a free port with a tmp data dir."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from markovlens.api import create_app
from markovlens.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """uvicorn serving ``create_app(settings)`` in a daemon thread."""

    def __init__(self, settings: Settings, frontend_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings, frontend_dir=frontend_dir),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """``live_server(**settings)`` -> a started server; stopped after the test."""
    started: list[LiveServer] = []
    frontend = tmp_path / "frontend"
    frontend.mkdir()
    (frontend / "index.html").write_text("<!doctype html><title>test</title>")

    def start(**overrides: Any) -> LiveServer:
        values: dict[str, Any] = {"data_dir": tmp_path / "data", "embedded_worker": False}
        values.update(overrides)
        server = LiveServer(Settings(**values), frontend).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()

"""Slow clients against the real server (uvicorn, sockets): nothing they do freezes the API.

The attack of the report: many sockets each declare a 100 kB body and send one byte every
few seconds. Before, each held a concurrency slot (the body was read inside the cap, before
the token check, with no deadline) and twelve froze ``/health`` and ``/jobs``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.security.conftest import LiveServer, live_server

SLOW_CLIENTS = 50
BODY_TIMEOUT = 8.0


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """No tokens on loopback (the default, worst case: nothing stops a body early)."""
    with live_server(
        tmp_path_factory.mktemp("slow"),
        body_timeout_seconds=str(BODY_TIMEOUT),
        header_timeout_seconds="1.5",
        writes_per_minute="6",
        write_burst="2",
    ) as server:
        yield server


def slow_post(server: LiveServer, *, headers: str = "") -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=30)
    sock.sendall(
        (
            f"POST /api/v1/jobs HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: 100000\r\n{headers}\r\n{{"
        ).encode()
    )
    return sock


def response_status(sock: socket.socket) -> int:
    head = sock.recv(4096).decode("latin-1")
    return int(head.split(" ", 2)[1])


def test_fifty_slow_bodies_leave_health_and_reads_responsive(open_server: LiveServer) -> None:
    sockets = [slow_post(open_server) for _ in range(SLOW_CLIENTS)]
    stop = threading.Event()

    def dribble() -> None:  # one byte per socket every 2 s, as the attack did
        while not stop.wait(2.0):
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.send(b" ")

    thread = threading.Thread(target=dribble, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        timings = []
        with httpx.Client(base_url=open_server.base, timeout=5) as client:
            while time.monotonic() - started < BODY_TIMEOUT - 3:
                for path in ("/api/v1/health", "/api/v1/jobs", "/metrics"):
                    t0 = time.monotonic()
                    assert client.get(path).status_code == 200
                    timings.append((path, time.monotonic() - t0))
                time.sleep(0.3)
        slowest = max(seconds for _, seconds in timings)
        print(f"slowest of {len(timings)} answers under 50 slow bodies: {slowest:.3f} s")
        assert slowest < 1.0, sorted(timings, key=lambda item: -item[1])[:5]
        assert len(timings) >= 9
        # The slow bodies themselves end with a 408 once their time is up.
        for sock in sockets[:5]:
            sock.settimeout(BODY_TIMEOUT + 10)
            assert response_status(sock) == 408
    finally:
        stop.set()
        thread.join()
        for sock in sockets:
            sock.close()


def test_slow_headers_are_cut_off(open_server: LiveServer) -> None:
    sock = socket.create_connection((open_server.host, open_server.port), timeout=10)
    try:
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHo")  # and nothing more
        t0 = time.monotonic()
        assert sock.recv(4096) == b""  # closed by the server
        assert time.monotonic() - t0 < 5
    finally:
        sock.close()


def test_forwarded_for_is_not_believed_by_default(open_server: LiveServer) -> None:
    """Each request names a fresh X-Forwarded-For: the write budget is still the peer's."""
    body = {"model": "builtin:smollm2-135m", "corpus": "builtin:python-docs", "preset": "quick"}
    codes = []
    with httpx.Client(base_url=open_server.base, timeout=10) as client:
        for index in range(4):
            forged = {"X-Forwarded-For": f"10.0.0.{index}"}
            response = client.post("/api/v1/jobs", json={**body, "force": True}, headers=forged)
            codes.append(response.status_code)
    assert codes[:2] == [201, 201] and codes[2:] == [429, 429]


def test_random_bearer_values_do_not_bypass_the_write_limit(tmp_path: Path) -> None:
    """Without tokens configured an Authorization header is unchecked: never a bucket key."""
    body = {"model": "builtin:smollm2-135m", "corpus": "builtin:python-docs", "preset": "quick"}
    with (
        live_server(tmp_path, writes_per_minute="6", write_burst="3") as server,
        httpx.Client(base_url=server.base, timeout=10) as client,
    ):
        codes = [
            client.post(
                "/api/v1/jobs",
                json={**body, "force": True},
                headers={"Authorization": f"Bearer random-{index}"},
            ).status_code
            for index in range(5)
        ]
    assert codes == [201, 201, 201, 429, 429]


def test_unauthenticated_slow_bodies_are_refused_before_the_body(tmp_path: Path) -> None:
    with live_server(tmp_path, api_tokens="secret-token", body_timeout_seconds="30") as server:
        sockets = [slow_post(server) for _ in range(20)]
        try:
            t0 = time.monotonic()
            assert [response_status(sock) for sock in sockets] == [401] * 20
            assert time.monotonic() - t0 < 5  # answered from the headers, not after 30 s
        finally:
            for sock in sockets:
                sock.close()

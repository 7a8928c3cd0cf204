"""Overload: requests beyond the DB pool wait on the event loop instead of failing."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient
from markovlens.api.concurrency import MAX_CONCURRENT_API_REQUESTS, ConcurrencyLimit
from markovlens.service import catalog
from sqlalchemy.exc import TimeoutError as PoolTimeoutError


def test_concurrency_cap_queues_instead_of_failing() -> None:
    running = 0
    peak = 0

    async def slow_app(scope, receive, send):  # type: ignore[no-untyped-def]
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    limited = ConcurrencyLimit(slow_app, limit=3)

    async def call(path: str) -> None:
        await limited({"type": "http", "path": path}, None, None)  # type: ignore[arg-type]

    async def main() -> int:
        await asyncio.gather(*(call("/api/v1/jobs") for _ in range(30)))
        capped = peak
        await asyncio.gather(*(call("/api/v1/jobs/1/events") for _ in range(10)))
        return capped

    assert asyncio.run(main()) == 3  # all 30 ran, never more than 3 at once
    assert peak == 10  # event streams are long-lived: never counted against the cap
    assert MAX_CONCURRENT_API_REQUESTS < 15  # below SQLAlchemy's default pool capacity


def test_pool_timeout_is_a_503(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def exhausted(*args: object, **kwargs: object) -> None:
        raise PoolTimeoutError("QueuePool limit of size 5 overflow 10 reached")

    monkeypatch.setattr(catalog, "list_jobs", exhausted)
    response = client.get("/api/v1/jobs")
    assert response.status_code == 503 and "busy" in response.json()["detail"]
    assert response.headers["retry-after"] == "5"

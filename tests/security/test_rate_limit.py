"""Write rate limiting: token buckets per token or address, 429 with Retry-After."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from markovlens.api.ratelimit import RateLimiter

from tests.security.conftest import AUTH, TOKEN


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_burst_then_refills_at_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(1.0)  # one per second at 60/min
    assert limiter.acquire("b") == 0.0  # keys are independent
    clock.now += 0.5
    assert limiter.acquire("a") == pytest.approx(0.5)
    clock.now += 1.0
    assert limiter.acquire("a") == 0.0
    clock.now += 3600
    assert [limiter.acquire("a") for _ in range(4)][-1] > 0  # refill is capped at the burst


def test_bucket_memory_is_bounded() -> None:
    limiter = RateLimiter(per_minute=1, burst=1, clock=Clock(), max_keys=100)
    for key in range(1000):
        limiter.acquire(str(key))
    assert len(limiter._buckets) == 100


def test_rejects_nonsense_limits() -> None:
    with pytest.raises(ValueError):
        RateLimiter(per_minute=0, burst=1)


def test_submissions_get_429_after_the_burst(make_client: Callable[..., TestClient]) -> None:
    client = make_client(writes_per_minute=6, write_burst=3)
    body = {"model": "builtin:smollm2-135m", "corpus": "builtin:python-docs", "preset": "quick"}
    codes = [
        client.post("/api/v1/jobs", json={**body, "force": True}, headers=AUTH).status_code
        for _ in range(4)
    ]
    assert codes == [201, 201, 201, 429]
    limited = client.post("/api/v1/jobs", json=body, headers=AUTH)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert "too many" in limited.json()["detail"] and TOKEN not in limited.text
    # Uploads and cancels draw on the same budget.
    files = {"file": ("a.txt", b"text")}
    assert client.post("/api/v1/corpora", files=files, headers=AUTH).status_code == 429
    # Reads are never limited.
    assert all(client.get("/api/v1/jobs").status_code == 200 for _ in range(20))
    assert client.get("/api/v1/jobs").json()["total"] == 3


def test_tokens_have_separate_budgets(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_tokens=[TOKEN, "second-token"], writes_per_minute=6, write_burst=1)
    body = {"model": "builtin:smollm2-135m", "corpus": "builtin:python-docs", "preset": "quick"}
    assert client.post("/api/v1/jobs", json=body, headers=AUTH).status_code == 201
    assert client.post("/api/v1/jobs", json=body, headers=AUTH).status_code == 429
    other = {"Authorization": "Bearer second-token"}
    assert (
        client.post("/api/v1/jobs", json={**body, "force": True}, headers=other).status_code == 201
    )
    assert client.post("/api/v1/jobs", json=body, headers=other).status_code == 429


def test_unauthenticated_clients_are_limited_by_address(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(api_tokens=[], writes_per_minute=6, write_burst=2)
    body = {"model": "builtin:smollm2-135m", "corpus": "builtin:python-docs", "preset": "quick"}
    # A new job each time (another seed): an equal one would be reused (200, not 201).
    codes = [
        client.post("/api/v1/jobs", json={**body, "config": {"seed": i}}).status_code
        for i in range(3)
    ]
    assert codes == [201, 201, 429]


def test_limit_can_be_disabled(make_client: Callable[..., TestClient]) -> None:
    client = make_client(writes_per_minute=0)
    body = {"model": "builtin:smollm2-135m", "corpus": "builtin:python-docs", "preset": "quick"}
    assert all(
        client.post("/api/v1/jobs", json={**body, "config": {"seed": i}}, headers=AUTH).status_code
        == 201
        for i in range(40)
    )


def test_peek_reports_the_wait_without_taking_a_request() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=1, clock=clock)
    assert limiter.peek("a") == 0.0 and limiter.peek("a") == 0.0  # peeking takes nothing
    assert limiter.acquire("a") == 0.0
    assert limiter.peek("a") == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.peek("a") == 0.0


def test_invalid_tokens_are_throttled_per_address(make_client: Callable[..., TestClient]) -> None:
    client = make_client(auth_failures_per_minute=6, auth_failure_burst=3, writes_per_minute=0)
    body = {"model": "builtin:smollm2-135m", "corpus": "builtin:python-docs", "preset": "quick"}
    guesses = [{"Authorization": f"Bearer guess-{i}"} for i in range(4)]
    codes = [client.post("/api/v1/jobs", json=body, headers=g).status_code for g in guesses]
    assert codes == [401, 401, 401, 429]
    blocked = client.post("/api/v1/jobs", json=body, headers=AUTH)
    # Once the budget is spent, even the right token waits: a guesser cannot tell a hit.
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) >= 1
    assert "invalid tokens" in blocked.json()["detail"] and TOKEN not in blocked.text
    # Reads without protect_reads never check tokens, so they are not blocked.
    assert client.get("/api/v1/jobs").status_code == 200


def test_valid_tokens_spend_no_failure_budget(make_client: Callable[..., TestClient]) -> None:
    client = make_client(auth_failures_per_minute=6, auth_failure_burst=1, writes_per_minute=0)
    body = {"model": "builtin:smollm2-135m", "corpus": "builtin:python-docs", "preset": "quick"}
    for _ in range(5):
        response = client.post("/api/v1/jobs", json={**body, "force": True}, headers=AUTH)
        assert response.status_code == 201
    assert (
        client.post("/api/v1/jobs", json=body, headers={"Authorization": "Bearer x"}).status_code
        == 401
    )

"""In-process token buckets: the write budget per client and the invalid-token budget."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from fastapi import HTTPException, status

from markovlens.settings import Settings

MAX_TRACKED_CLIENTS = 10_000  # oldest buckets are dropped beyond this (bounded memory)


class RateLimiter:
    """In-process token buckets keyed by client (one process serves the API: no shared store).

    Each key holds up to ``burst`` requests, refilled continuously at ``per_minute``.
    """

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_TRACKED_CLIENTS,
    ) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("rate limit needs per_minute > 0 and burst >= 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def peek(self, key: str) -> float:
        """Seconds until ``key`` has a request available (0.0 now), without taking one."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def acquire(self, key: str) -> float:
        """Take one request for ``key``: 0.0 if allowed, else seconds until one is available."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens, now)  # most recent last: eviction drops the oldest
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return wait


def too_many_requests(what: str, wait: float) -> HTTPException:
    """429 ``too many <what>; retry in N s`` with ``Retry-After: N`` (whole seconds, ≥ 1)."""
    retry = max(1, math.ceil(wait))
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"too many {what}; retry in {retry} s",
        headers={"Retry-After": str(retry)},
    )


def make_write_limiter(settings: Settings) -> RateLimiter | None:
    """From the settings (``writes_per_minute`` <= 0 disables limiting)."""
    if settings.writes_per_minute <= 0:
        return None
    return RateLimiter(settings.writes_per_minute, max(1, settings.write_burst))


def make_auth_failure_limiter(settings: Settings) -> RateLimiter | None:
    """Invalid-token budget per address (``auth_failures_per_minute`` <= 0 disables it)."""
    if settings.auth_failures_per_minute <= 0:
        return None
    return RateLimiter(settings.auth_failures_per_minute, max(1, settings.auth_failure_burst))

"""The concurrency cap: how many API requests hold a thread and a database connection at once."""

from __future__ import annotations

import asyncio

from markovlens.api.asgi import HEALTH_PATH, ASGIApp, Receive, Scope, Send

# Below SQLAlchemy's default pool capacity (5 + 10 overflow): a request never waits for a
# connection while holding a thread (see ConcurrencyLimit).
MAX_CONCURRENT_API_REQUESTS = 12


class ConcurrencyLimit:
    """At most ``limit`` API requests in the thread pool at once; the rest wait on the event loop.

    Each request holds a pooled database connection while it runs. Without a cap, overload
    puts more requests in the thread pool than there are connections, and those that wait on
    the connection pool for its timeout fail (503). Waiting here costs nothing but latency.
    Event streams are long-lived and take their own short sessions, and ``/health`` must
    answer under any load, so neither is counted (``/metrics`` is outside ``/api/``).
    """

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._semaphore: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/api/") or path.endswith("/events") or path == HEALTH_PATH:
            await self.app(scope, receive, send)
            return
        if self._semaphore is None:  # created inside the running loop
            self._semaphore = asyncio.Semaphore(self.limit)
        async with self._semaphore:
            await self.app(scope, receive, send)

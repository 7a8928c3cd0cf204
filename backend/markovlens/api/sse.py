"""Server-sent events: a job's state, sent on every change, until it reaches a terminal state."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})

POLL_SECONDS = 0.5
# A comment line now and then keeps proxies from closing a quiet stream.
KEEPALIVE_SECONDS = 15.0


def sse_message(data: str, event: str | None = None) -> str:
    """One SSE frame; ``data`` must be a single line (JSON is)."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n"


async def job_event_stream(
    fetch: Callable[[], Awaitable[Any | None]],
    is_disconnected: Callable[[], Awaitable[bool]],
    poll_seconds: float = POLL_SECONDS,
) -> AsyncIterator[str]:
    """Poll ``fetch`` (returns a JobOut or None when the job is gone) and yield SSE frames.

    The first frame is the current state; later frames only when the JSON changes. The stream
    ends after the frame that carries a terminal status, or when the client goes away.
    """
    last_json: str | None = None
    last_sent = time.monotonic()
    while True:
        job = await fetch()
        if job is None:
            yield sse_message('{"detail": "job not found"}', event="error")
            return
        body = job.model_dump_json()
        if body != last_json:
            last_json = body
            last_sent = time.monotonic()
            yield sse_message(body)
            if job.status in TERMINAL_STATUSES:
                yield sse_message(body, event="end")
                return
        elif time.monotonic() - last_sent > KEEPALIVE_SECONDS:
            last_sent = time.monotonic()
            yield ": keepalive\n\n"
        if await is_disconnected():
            return
        await asyncio.sleep(poll_seconds)

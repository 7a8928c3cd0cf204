"""FastAPI dependencies, as ``Annotated`` aliases the routers use in their signatures.

- ``SettingsDep``, ``DatabaseDep``, ``SessionDep``: the app's settings, its database, and one
  session per request;
- ``WRITE_GUARD``: a valid token once tokens are configured, then the per-client write budget
  (``dependencies=`` of every write route);
- ``READ_GUARD`` and ``METRICS_GUARD``: the read and ``/metrics`` token checks (``app.py``).

The checks themselves live by concern: tokens in ``auth.py``, buckets in ``ratelimit.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from markovlens.api.auth import (
    client_key,
    require_metrics_token,
    require_read_token,
    require_write_token,
)
from markovlens.api.ratelimit import RateLimiter, too_many_requests
from markovlens.settings import Settings
from markovlens.store import Database


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request, closed (and rolled back on error) afterwards.

    Async on purpose: the close runs on the event loop, not in the thread pool. A sync
    generator's teardown must wait for a pool thread while its session still holds a database
    connection; under load every pool thread can be blocked waiting for a connection, a
    deadlock only the connection pool's 30 s timeout breaks (seen as 500s by
    benchmarks/load_test.py). Closing only returns the connection: quick, fine on the loop.
    """
    with get_database(request).session() as session:
        yield session


def limit_writes(request: Request) -> None:
    """429 with ``Retry-After`` once a client (verified token, else address) spends its budget."""
    limiter: RateLimiter | None = getattr(request.app.state, "write_limiter", None)
    if limiter is None:
        return
    wait = limiter.acquire(client_key(request))
    if wait > 0:
        raise too_many_requests("submissions from this client", wait)


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DatabaseDep = Annotated[Database, Depends(get_database)]
SessionDep = Annotated[Session, Depends(get_session)]

# Route-level guards (``dependencies=``): they return nothing a handler needs.
WRITE_GUARD: list[Any] = [Depends(require_write_token), Depends(limit_writes)]
READ_GUARD: list[Any] = [Depends(require_read_token)]  # no-op unless tokens + protect_reads
METRICS_GUARD: list[Any] = [Depends(require_metrics_token)]

"""FastAPI dependencies: settings and database sessions (token checks: ``auth.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.orm import Session

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

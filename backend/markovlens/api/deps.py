"""FastAPI dependencies: settings and database sessions (token checks: ``security.py``)."""

from __future__ import annotations

from collections.abc import Iterator

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


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, closed (and rolled back on error) afterwards."""
    with get_database(request).session() as session:
        yield session

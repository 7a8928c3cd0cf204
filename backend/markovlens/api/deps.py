"""FastAPI dependencies: settings, database sessions, bearer-token check for writes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

from fastapi import HTTPException, Request, status
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


def require_write_token(request: Request) -> None:
    """Write endpoints need ``Authorization: Bearer <token>`` once tokens are configured."""
    tokens = get_settings_dep(request).api_tokens
    if not tokens:
        return
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    # compare_digest: no timing side channel on the token's prefix.
    if scheme.lower() != "bearer" or not any(
        secrets.compare_digest(presented.strip(), token) for token in tokens
    ):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="this endpoint needs a bearer token (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )

"""API test fixtures: an app on a fresh SQLite (or PostgreSQL) database in a tmp dir."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from markovlens.api import create_app

from tests.conftest import UI_HEADERS, build_settings

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A throw-away database on the machine's PostgreSQL, dropped afterwards."""
    import psycopg

    name = f"markovlens_api_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_client(
    request: pytest.FixtureRequest, tmp_path: Path, frontend_dir: Path
) -> Iterator[TestClient]:
    """A client on SQLite, and (marked postgres) the same on PostgreSQL."""
    if request.param == "sqlite":
        app = create_app(build_settings(tmp_path), frontend_dir=frontend_dir)
        with TestClient(app, headers=UI_HEADERS) as client:
            yield client
        return
    with postgres_database() as url:
        settings = build_settings(tmp_path, database_url=url)
        # The client closes (disposing pooled connections) before the database is dropped.
        app = create_app(settings, frontend_dir=frontend_dir)
        with TestClient(app, headers=UI_HEADERS) as client:
            yield client

"""API test fixtures: an app on a fresh SQLite (or PostgreSQL) database in a tmp dir."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markovlens.api import create_app
from markovlens.settings import Settings

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"

ClientFactory = Callable[..., Any]


@pytest.fixture
def frontend_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "frontend"
    directory.mkdir()
    (directory / "index.html").write_text("<!doctype html><title>markovlens test</title>")
    return directory


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


@pytest.fixture
def make_client(tmp_path: Path, frontend_dir: Path) -> Iterator[ClientFactory]:
    """``make_client(**settings)`` -> a started TestClient (lifespan ran: migrated DB)."""
    stack: list[Any] = []

    def factory(**overrides: Any) -> TestClient:
        settings = build_settings(tmp_path, **overrides)
        client = TestClient(create_app(settings, frontend_dir=frontend_dir))
        stack.append(client)
        return client.__enter__()

    yield factory
    for client in reversed(stack):
        client.__exit__(None, None, None)


def build_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp_path / "data", "embedded_worker": False}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_client(
    request: pytest.FixtureRequest, tmp_path: Path, frontend_dir: Path
) -> Iterator[TestClient]:
    """A client on SQLite, and (marked postgres) the same on PostgreSQL."""
    if request.param == "sqlite":
        with TestClient(create_app(build_settings(tmp_path), frontend_dir=frontend_dir)) as client:
            yield client
        return
    with postgres_database() as url:
        settings = build_settings(tmp_path, database_url=url)
        # The client closes (disposing pooled connections) before the database is dropped.
        with TestClient(create_app(settings, frontend_dir=frontend_dir)) as client:
            yield client

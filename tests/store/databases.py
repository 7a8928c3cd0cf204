"""Throw-away databases for tests: a SQLite file, or a fresh schema on the machine's Postgres."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@contextmanager
def temporary_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A URL for an empty database, removed afterwards.

    Postgres: a new schema selected through ``search_path`` in the URL, so the URL alone is
    enough for a worker subprocess to reach the same tables and parallel runs never collide.
    """
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'markovlens.db'}"
        return
    schema = f"mltest_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

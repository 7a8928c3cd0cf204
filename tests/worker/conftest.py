from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from markovlens.settings import Settings
from markovlens.store import Database, open_database

from tests.store.conftest import db_url
from tests.store.databases import temporary_database_url

__all__ = ["db_url"]  # every backend, fresh per test: the store tests' fixture


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    with temporary_database_url("sqlite", tmp_path) as url:
        yield url


def make_settings(tmp_path: Path, db_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "database_url": db_url,
        "queue_url": f"sqlite:///{tmp_path / 'queue.db'}",
        "model_roots": [tmp_path, *overrides.pop("model_roots", [])],  # type: ignore[misc]
        "lease_seconds": 30.0,
        "heartbeat_seconds": 0.5,
        "reaper_interval_seconds": 0.5,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, db_url)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = open_database(settings.resolved_database_url)
    yield database
    database.dispose()

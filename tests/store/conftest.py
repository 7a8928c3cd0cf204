from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from markovlens.store import Database, open_database

from tests.store.databases import BACKENDS, temporary_database_url


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with temporary_database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.dispose()

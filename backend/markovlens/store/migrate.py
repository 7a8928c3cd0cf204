"""Apply Alembic migrations to head, programmatically (API and worker call this at start-up).

Both functions take the caller's engine (``open_database`` has one; so do the tests): the
caller owns it and disposes of it.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed 64-bit key: serialises concurrent start-ups (API + workers) on one Postgres.
_PG_LOCK_KEY = 0x6D61726B6F766C  # "markovl"


def alembic_config() -> Config:
    """The Alembic config pointing at this package's migrations (independent of the cwd)."""
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """Serialise concurrent start-ups on one SQLite file (SQLite DDL is not transactional
    under Alembic: two processes would both create the tables)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (default head). Safe to call on every start-up."""
    config = alembic_config()
    with _sqlite_file_lock(engine), engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            connection.commit()
        try:
            if current_revision(connection) != head_revision() or revision != "head":
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                connection.commit()
        finally:
            if connection.dialect.name == "postgresql":
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                connection.commit()


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade to ``revision`` (``base`` drops everything); used by the migration tests."""
    config = alembic_config()
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
        connection.commit()

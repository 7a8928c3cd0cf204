"""Migrations reach head on SQLite and Postgres, are idempotent, and match the ORM tables."""

from __future__ import annotations

import threading

from markovlens.store.db import make_engine
from markovlens.store.migrate import current_revision, downgrade, head_revision, upgrade
from markovlens.store.tables import Base
from sqlalchemy import inspect


def test_upgrade_to_head_creates_contract_tables(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)  # a second start-up is a no-op
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        inspector = inspect(conn)
        tables = set(inspector.get_table_names())
        assert {"models", "corpora", "jobs", "results"} <= tables
        for table in Base.metadata.sorted_tables:
            columns = {col["name"] for col in inspector.get_columns(table.name)}
            assert columns == set(table.columns.keys()), table.name
    engine.dispose()


def test_downgrade_to_base_and_up_again(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    downgrade(engine, "base")
    with engine.connect() as conn:
        assert "jobs" not in inspect(conn).get_table_names()
    upgrade(engine)  # and up again
    with engine.connect() as conn:
        assert "jobs" in inspect(conn).get_table_names()
    engine.dispose()


def test_concurrent_start_ups_migrate_once(db_url: str) -> None:
    """API and workers may start together: every upgrade succeeds, the schema is created once."""
    errors: list[BaseException] = []

    def start() -> None:
        engine = make_engine(db_url)  # each start-up (process) has its own engine
        try:
            upgrade(engine)
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
    engine.dispose()

"""The service tests use the worker tests' database fixtures (every backend, fresh per test)."""

from __future__ import annotations

from tests.worker.conftest import db, db_url, settings

__all__ = ["db", "db_url", "settings"]

"""Storage: SQLAlchemy 2 tables, engine factory, repositories, Alembic migrations.

The database row is the truth about a job; everything else (queue, worker memory) is transport.
"""

from markovlens.store.db import (
    Database,
    begin_write,
    make_engine,
    make_session_factory,
    open_database,
)
from markovlens.store.migrate import upgrade
from markovlens.store.tables import Base, Corpus, Job, JobStatus, Model, Result

__all__ = [
    "Base",
    "Corpus",
    "Database",
    "Job",
    "JobStatus",
    "Model",
    "Result",
    "begin_write",
    "make_engine",
    "make_session_factory",
    "open_database",
    "upgrade",
]

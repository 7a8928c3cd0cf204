"""The ``workers`` table and its repository: who consumes which queue, on what hardware.

Each worker upserts its row at start, heartbeats it (with the job it is running), and marks it
stopped on a graceful exit. A row whose heartbeat is older than the liveness window belongs to
a worker that vanished (SIGKILL, lost machine); nothing depends on it being cleaned up.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, delete, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from markovlens.store.db import begin_write
from markovlens.store.tables import Base, UTCDateTime, utcnow

WorkerStatus = str  # "idle" | "busy" | "stopped"


class WorkerRow(Base):
    """One worker process (id = ``host:pid:random``), as it last advertised itself."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255), nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    queues: Mapped[list[str]] = mapped_column(
        JSON().with_variant(JSONB(), "postgresql"), nullable=False
    )
    device: Mapped[str] = mapped_column(String(32), nullable=False)  # cpu | cuda | mps
    device_name: Mapped[str | None] = mapped_column(String(255))
    gpu_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    memory_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="idle")
    current_job_id: Mapped[int | None] = mapped_column(Integer)
    jobs_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    version: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, index=True
    )
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def register(session: Session, worker_id: str, **fields: Any) -> WorkerRow:
    """Insert or refresh the row of ``worker_id`` (commits)."""
    begin_write(session)
    now = utcnow()
    row = session.get(WorkerRow, worker_id)
    if row is None:
        row = WorkerRow(id=worker_id, created_at=now, **fields)
        session.add(row)
    else:
        for key, value in fields.items():
            setattr(row, key, value)
    row.heartbeat_at = now
    row.status = "idle"
    row.stopped_at = None
    session.commit()
    return row


def heartbeat(
    session: Session, worker_id: str, *, current_job_id: int | None, jobs_done: int
) -> bool:
    """Refresh the heartbeat; False if the row is gone (then the caller registers again)."""
    result = session.execute(
        update(WorkerRow)
        .where(WorkerRow.id == worker_id)
        .values(
            heartbeat_at=utcnow(),
            current_job_id=current_job_id,
            status="busy" if current_job_id is not None else "idle",
            jobs_done=jobs_done,
        )
    )
    session.commit()
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def mark_stopped(session: Session, worker_id: str) -> None:
    now = utcnow()
    session.execute(
        update(WorkerRow)
        .where(WorkerRow.id == worker_id)
        .values(status="stopped", current_job_id=None, stopped_at=now, heartbeat_at=now)
    )
    session.commit()


def list_workers(session: Session) -> list[WorkerRow]:
    return list(session.scalars(select(WorkerRow).order_by(WorkerRow.created_at)))


def live_workers(
    session: Session, seen_within: timedelta, now: datetime | None = None
) -> list[WorkerRow]:
    """Workers not stopped whose last heartbeat is within ``seen_within``."""
    cutoff = (now or utcnow()) - seen_within
    stmt = select(WorkerRow).where(WorkerRow.status != "stopped", WorkerRow.heartbeat_at >= cutoff)
    return list(session.scalars(stmt.order_by(WorkerRow.created_at)))


def prune(session: Session, older_than: timedelta, now: datetime | None = None) -> int:
    """Delete rows silent for ``older_than`` (each restart adds a row; keep the table and the
    /metrics label sets small). Commits; returns how many went."""
    cutoff = (now or utcnow()) - older_than
    result = session.execute(delete(WorkerRow).where(WorkerRow.heartbeat_at < cutoff))
    session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]

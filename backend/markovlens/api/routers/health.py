"""``GET /health``: liveness plus which database and queue engines are in use."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from markovlens import __version__
from markovlens.api.deps import DatabaseDep, SettingsDep

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str
    database: Literal["sqlite", "postgresql"]
    queue: Literal["sqlite", "redis"]


@router.get("/health", response_model=HealthOut)
def health(settings: SettingsDep, database: DatabaseDep) -> HealthOut:
    # A trivial query proves the database answers, not just that the process is up.
    with database.session() as session:
        session.execute(text("SELECT 1"))
    dialect = database.engine.dialect.name
    is_redis = settings.resolved_queue_url.startswith(("redis://", "rediss://"))
    queue: Literal["sqlite", "redis"] = "redis" if is_redis else "sqlite"
    return HealthOut(
        status="ok",
        version=__version__,
        database="postgresql" if dialect == "postgresql" else "sqlite",
        queue=queue,
    )

"""``GET /models`` and ``GET /models/{id}``: models with their latest result per corpus/preset."""

from __future__ import annotations

from fastapi import APIRouter

from markovlens.api.deps import SessionDep
from markovlens.jobs import service
from markovlens.jobs.schemas import ModelOut

router = APIRouter(tags=["models"])


@router.get("/models", response_model=list[ModelOut])
def list_models(session: SessionDep) -> list[ModelOut]:
    return service.list_models(session)


@router.get("/models/{model_id}", response_model=ModelOut)
def get_model(model_id: int, session: SessionDep) -> ModelOut:
    return service.model_out(session, service.get_model(session, model_id))

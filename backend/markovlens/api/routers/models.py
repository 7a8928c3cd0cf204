"""``GET /models`` and ``GET /models/{id}``: models with their latest result per corpus/preset."""

from __future__ import annotations

from fastapi import APIRouter

from markovlens.api.deps import SessionDep
from markovlens.service import catalog
from markovlens.service.schemas import ModelOut

router = APIRouter(tags=["models"])


@router.get("/models", response_model=list[ModelOut])
def list_models(session: SessionDep) -> list[ModelOut]:
    return catalog.list_models(session)


@router.get("/models/{model_id}", response_model=ModelOut)
def get_model(model_id: int, session: SessionDep) -> ModelOut:
    return catalog.model_out(session, catalog.get_model(session, model_id))

"""``GET /compare?result_ids=1,2,3``: several results side by side with their models."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from markovlens.api.csvexport import results_csv
from markovlens.api.deps import get_session
from markovlens.api.routers.results import load_result
from markovlens.jobs import service
from markovlens.jobs.schemas import ModelOut, ResultOut

router = APIRouter(tags=["compare"])

MAX_COMPARED = 20


class CompareItem(BaseModel):
    model: ModelOut
    result: ResultOut


class CompareOut(BaseModel):
    items: list[CompareItem]


def parse_ids(raw: str) -> list[int]:
    try:
        ids = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"result_ids must be comma-separated integers, got {raw!r}",
        ) from exc
    if not ids:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "result_ids is empty")
    if len(ids) > MAX_COMPARED:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"compare at most {MAX_COMPARED} results"
        )
    return list(dict.fromkeys(ids))  # de-duplicate, keep order


@router.get("/compare", response_model=CompareOut)
def compare(
    result_ids: str = Query(..., description="Comma-separated result ids, e.g. 1,2,3"),
    session: Session = Depends(get_session),
) -> CompareOut:
    items = []
    for result_id in parse_ids(result_ids):
        row = load_result(session, result_id)
        model = service.model_out(session, service.get_model(session, row.model_id))
        items.append(CompareItem(model=model, result=ResultOut.from_row(row)))
    return CompareOut(items=items)


@router.get("/compare/csv", response_class=PlainTextResponse)
def compare_csv(
    result_ids: str = Query(..., description="Comma-separated result ids, e.g. 1,2,3"),
    session: Session = Depends(get_session),
) -> PlainTextResponse:
    """``result_id,path,value`` rows of every number of each result (the per-result CSV's rows)."""
    ids = parse_ids(result_ids)
    documents = [(result_id, dict(load_result(session, result_id).payload)) for result_id in ids]
    name = "-".join(str(i) for i in ids)
    return PlainTextResponse(
        results_csv(documents),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="compare-{name}.csv"'},
    )

"""Results: the AnalysisResult JSON, its per-token arrays, and a CSV of its numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException, status
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from markovlens.api.deps import SessionDep
from markovlens.schema.csvexport import result_csv
from markovlens.service import catalog
from markovlens.service.schemas import ResultOut
from markovlens.store import Result
from markovlens.store.arrays import unpack_arrays

router = APIRouter(tags=["results"])


class ArrayInfo(BaseModel):
    shape: list[int]
    dtype: str


def load_result(session: Session, result_id: int) -> Result:
    """The row, or NotFoundError (404)."""
    return catalog.get_result(session, result_id)


@router.get("/results/{result_id}", response_model=ResultOut)
def get_result(result_id: int, session: SessionDep) -> ResultOut:
    return ResultOut.from_row(load_result(session, result_id))


@router.get("/results/{result_id}/arrays", response_model=dict[str, ArrayInfo])
def list_arrays(result_id: int, session: SessionDep) -> dict[str, ArrayInfo]:
    arrays = unpack_arrays(load_result(session, result_id).arrays)
    return {
        name: ArrayInfo(shape=list(value.shape), dtype=str(value.dtype))
        for name, value in arrays.items()
    }


@router.get("/results/{result_id}/arrays/{name}")
def get_array(result_id: int, name: str, session: SessionDep) -> JSONResponse:
    """The array as (nested) JSON lists; NaN and ±inf become null (JSON has no such numbers)."""
    arrays = unpack_arrays(load_result(session, result_id).arrays)
    if name not in arrays:
        known = ", ".join(sorted(arrays)) or "none"
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"result {result_id} has no array {name!r} (arrays: {known})",
        )
    return JSONResponse(json_safe(arrays[name]))


def json_safe(array: np.ndarray) -> Any:
    if np.issubdtype(array.dtype, np.floating):
        values = array.astype(object)
        values[~np.isfinite(array)] = None
        return values.tolist()
    return array.tolist()


@router.get("/results/{result_id}/csv", response_class=PlainTextResponse)
def get_csv(result_id: int, session: SessionDep) -> PlainTextResponse:
    """``path,value`` rows of every number in the result document."""
    row = load_result(session, result_id)
    return PlainTextResponse(
        result_csv(dict(row.payload)),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="result-{result_id}.csv"'},
    )

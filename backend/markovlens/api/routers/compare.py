"""``GET /compare?result_ids=1,2,3``: several results side by side with their models.

The alignment lifts of two results compare only when they were measured on the same contexts
(same corpus hash, N, window length, earliest position, seed and split scheme: the headline's
``contexts_key``); the response says when they were not (docs/methods.md#alignment).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from markovlens.api.deps import SessionDep
from markovlens.api.routers.results import load_result
from markovlens.schema.csvexport import results_csv
from markovlens.schema.headline import headline
from markovlens.service import catalog
from markovlens.service.schemas import Headline, ModelOut, ResultOut

router = APIRouter(tags=["compare"])

MAX_COMPARED = 20


class CompareItem(BaseModel):
    model: ModelOut
    result: ResultOut
    headline: Headline


class LiftComparability(BaseModel):
    """Whether the results' alignment lifts may share one axis, and why not."""

    comparable: bool = Field(
        description="Every result with a lift has the same contexts_key (vacuously true for "
        "fewer than two)."
    )
    message: str | None = Field(
        default=None, description="What differs (corpus, N, context settings); None if nothing."
    )
    groups: dict[str, list[int]] = Field(
        default_factory=dict,
        description="contexts_key → result ids: lifts are comparable within a group only.",
    )


class CompareOut(BaseModel):
    items: list[CompareItem]
    lifts: LiftComparability


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


def lift_comparability(cards: list[tuple[int, Headline]]) -> LiftComparability:
    """Group results with a lift by contexts_key and say what differs between groups."""
    with_lift = [(rid, card) for rid, card in cards if card.alignment_lift_last is not None]
    groups: dict[str, list[int]] = {}
    for rid, card in with_lift:
        groups.setdefault(card.contexts_key or f"unknown:{rid}", []).append(rid)
    if len(groups) <= 1:
        return LiftComparability(comparable=True, groups=groups)
    reasons = []
    hashes = {card.corpus_hash for _, card in with_lift}
    if len(hashes) > 1:
        reasons.append("different corpora (corpus hash)")
    sizes = {card.num_contexts for _, card in with_lift}
    if len(sizes) > 1:
        shown = ", ".join(str(n) for n in sorted(sizes, key=lambda n: (n is None, n or 0)))
        reasons.append(f"different numbers of contexts N ({shown})")
    if any(card.contexts_key is None for _, card in with_lift):
        reasons.append("a result without stored context settings")
    if not reasons:
        reasons.append("different context settings (window length, earliest position, seed "
                       "or split scheme)")  # fmt: skip
    message = (
        "Alignment lifts are not comparable across these results: "
        + "; ".join(reasons)
        + ". A lift is only comparable on the same corpus, contexts and N."
    )
    return LiftComparability(comparable=False, message=message, groups=groups)


@router.get("/compare", response_model=CompareOut)
def compare(
    session: SessionDep,
    result_ids: str = Query(..., description="Comma-separated result ids, e.g. 1,2,3"),
) -> CompareOut:
    items = []
    for result_id in parse_ids(result_ids):
        row = load_result(session, result_id)
        model = catalog.model_out(session, catalog.get_model(session, row.model_id))
        result = ResultOut.from_row(row)
        items.append(CompareItem(model=model, result=result, headline=headline(result.result)))
    cards = [(item.result.id, item.headline) for item in items]
    return CompareOut(items=items, lifts=lift_comparability(cards))


@router.get("/compare/csv", response_class=PlainTextResponse)
def compare_csv(
    session: SessionDep,
    result_ids: str = Query(..., description="Comma-separated result ids, e.g. 1,2,3"),
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

"""The token view of a result: one window's tokens coloured by a per-token quantity."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from markovlens.api.deps import SessionDep
from markovlens.schema.tokens import TokenWindow, window_view
from markovlens.service import catalog
from markovlens.store.arrays import unpack_arrays

router = APIRouter(tags=["results"])

# Results never change once stored: keep the last few unpacked, so paging through windows
# does not decompress the whole blob on every request.
_CACHE_SIZE = 4
_cache: OrderedDict[tuple[int, int], dict[str, np.ndarray]] = OrderedDict()
_lock = threading.Lock()


def _arrays(session: Session, result_id: int) -> dict[str, np.ndarray]:
    row = catalog.get_result(session, result_id)  # 404 if missing
    key = (result_id, row.job_id)  # a recreated database reuses ids with other jobs
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    arrays = unpack_arrays(row.arrays)
    with _lock:
        _cache[key] = arrays
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return arrays


@router.get("/results/{result_id}/tokens", response_model=TokenWindow)
def get_tokens(
    result_id: int,
    session: SessionDep,
    window: int = Query(default=0, ge=0, description="Window index (0-based)."),
) -> TokenWindow:
    """Tokens of one window with every per-token quantity, the model's top-5 next tokens per
    token and, at the sampled contexts, the lens's top-1 by layer."""
    # A window out of range or a result without token arrays: TokenViewError, a 404.
    return window_view(_arrays(session, result_id), window)

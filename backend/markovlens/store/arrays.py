"""Per-token arrays <-> one compressed blob (``np.savez_compressed``)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np


def pack_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    """Compress named arrays into bytes for the ``results.arrays`` column."""
    buffer = io.BytesIO()
    named: dict[str, Any] = {name: np.asarray(value) for name, value in arrays.items()}
    np.savez_compressed(buffer, **named)
    return buffer.getvalue()


def unpack_arrays(blob: bytes | None) -> dict[str, np.ndarray]:
    """The inverse of :func:`pack_arrays`; no pickles are ever loaded (blobs come from the DB)."""
    if not blob:
        return {}
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}

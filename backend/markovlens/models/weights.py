"""Parameter counts read from weight-file headers: cheap enough to run at job submission.

Routing needs the parameter count before any worker loads the model. Building the model's
config (``inspect_model``) costs seconds to tens of seconds for a GGUF file; the headers give
the same number in milliseconds: safetensors starts with a JSON table of tensor shapes, GGUF
with a table of tensor dimensions after its key/value metadata.
"""

from __future__ import annotations

import json
import logging
import math
import mmap
import struct
from pathlib import Path

from markovlens.settings import Settings

log = logging.getLogger(__name__)

_GGUF_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_GGUF_STRING, _GGUF_ARRAY = 8, 9
_MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024


def safetensors_parameters(path: Path) -> int:
    """Elements of every tensor in a ``.safetensors`` file (header only)."""
    with path.open("rb") as handle:
        (size,) = struct.unpack("<Q", handle.read(8))
        if size > _MAX_SAFETENSORS_HEADER:
            raise ValueError(f"{path}: safetensors header of {size} bytes is not plausible")
        header = json.loads(handle.read(size))
    return sum(
        math.prod(entry["shape"]) for name, entry in header.items() if name != "__metadata__"
    )


class _Cursor:
    """Little-endian reads over a memory map."""

    def __init__(self, data: mmap.mmap) -> None:
        self.data, self.pos = data, 0

    def read(self, fmt: str) -> int:
        (value,) = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def skip_string(self) -> None:
        length = self.read("Q")
        self.pos += length

    def skip_value(self, kind: int) -> None:
        if kind in _GGUF_FIXED:
            self.pos += _GGUF_FIXED[kind]
        elif kind == _GGUF_STRING:
            self.skip_string()
        elif kind == _GGUF_ARRAY:
            item_kind, count = self.read("I"), self.read("Q")
            if item_kind in _GGUF_FIXED:
                self.pos += _GGUF_FIXED[item_kind] * count
            else:
                for _ in range(count):
                    self.skip_value(item_kind)
        else:
            raise ValueError(f"unknown GGUF value type {kind}")


def gguf_parameters(path: Path) -> int:
    """Elements of every tensor in a GGUF (v2/v3) file: the dequantised parameter count."""
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data[:4] != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        cursor = _Cursor(data)
        cursor.pos = 4
        version = cursor.read("I")
        if version < 2:
            raise ValueError(f"{path}: GGUF version {version} is not supported")
        tensors, pairs = cursor.read("Q"), cursor.read("Q")
        for _ in range(pairs):
            cursor.skip_string()  # key
            cursor.skip_value(cursor.read("I"))
        total = 0
        for _ in range(tensors):
            cursor.skip_string()  # name
            dims = [cursor.read("Q") for _ in range(cursor.read("I"))]
            cursor.pos += 4 + 8  # type, offset
            total += math.prod(dims)
        return total


def weight_files_parameters(files: list[Path]) -> int | None:
    """Parameters stored in ``files`` (safetensors shards or one GGUF); None if unreadable."""
    if not files:
        return None
    total = 0
    for path in files:
        if path.suffix == ".gguf":
            total += gguf_parameters(path)
        elif path.suffix == ".safetensors":
            total += safetensors_parameters(path)
        else:
            return None
    return total


def parameter_count_hint(model_source: str, settings: Settings) -> int | None:
    """Parameter count of a local, GGUF or builtin model from its weight headers.

    None when it cannot be known cheaply (``hf:`` needs the network; a ``random-init`` of a
    config-only directory has no weights): routing then falls back to the model row.
    """
    from markovlens.models import parse_model_source
    from markovlens.models.checkpoint import resolve_checkpoint

    try:
        base = parse_model_source(model_source).base
        if base.kind == "hf":
            return None
        checkpoint = resolve_checkpoint(base, settings, need_weights=True)
        return weight_files_parameters(checkpoint.weight_files)
    except Exception as exc:  # the worker reports unreadable models; routing must not fail
        log.info("no parameter count for %s at submission: %s", model_source, exc)
        return None

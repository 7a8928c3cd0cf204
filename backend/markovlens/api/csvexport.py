"""Flatten a result document into ``path,value`` rows of its numbers (the CSV export)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from typing import Any


def iter_numbers(node: Any, prefix: str = "") -> Iterator[tuple[str, float | int]]:
    """Every numeric leaf of a JSON document with its dotted path (list items by index).

    Booleans and strings are skipped: the export is for numbers a spreadsheet can plot.
    """
    if isinstance(node, bool) or node is None or isinstance(node, str):
        return
    if isinstance(node, int | float):
        yield prefix, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from iter_numbers(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(node, list | tuple):
        for index, value in enumerate(node):
            yield from iter_numbers(value, f"{prefix}.{index}" if prefix else str(index))


def result_csv(document: dict[str, Any]) -> str:
    """CSV text with a ``path,value`` header; non-finite floats are written as ``nan``/``inf``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "value"])
    for path, value in iter_numbers(document):
        if isinstance(value, float) and not math.isfinite(value):
            writer.writerow([path, repr(value)])
        else:
            writer.writerow([path, value])
    return buffer.getvalue()

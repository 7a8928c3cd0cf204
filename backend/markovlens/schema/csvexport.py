"""Flatten result documents into rows of their numbers: the one CSV format of the service.

Both the dashboard's and the compare page's "Export CSV" download what these functions write
(through the API), so a spreadsheet sees the same paths (``layers.0.mean_nll``) and values
wherever the file came from.
"""

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


def _cell(value: float | int) -> str | float | int:
    """Non-finite floats as ``nan``/``inf``/``-inf`` (what spreadsheets and pandas read)."""
    return repr(value) if isinstance(value, float) and not math.isfinite(value) else value


def result_csv(document: dict[str, Any]) -> str:
    """CSV text with a ``path,value`` header, one row per number of ``document``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "value"])
    for path, value in iter_numbers(document):
        writer.writerow([path, _cell(value)])
    return buffer.getvalue()


def results_csv(documents: list[tuple[int, dict[str, Any]]]) -> str:
    """Several results in one table: ``result_id,path,value``, the rows of :func:`result_csv`
    for each ``(result id, document)`` in order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["result_id", "path", "value"])
    for result_id, document in documents:
        for path, value in iter_numbers(document):
            writer.writerow([result_id, path, _cell(value)])
    return buffer.getvalue()

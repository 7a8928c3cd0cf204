"""The headline numbers of a stored AnalysisResult payload (the model card and overview)."""

from __future__ import annotations

import math
from typing import Any

from markovlens.jobs.schemas import Headline

# Where each number lives in AnalysisResult JSON. A value may be a number or an Interval
# ({"estimate", "low", "high"}). Several paths are tried while the analysis suites are being
# built; the first present one wins. Absent sections give None.
HEADLINE_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    "mean_nll": (("entropy", "summary", "mean_nll"),),
    "perplexity": (("entropy", "summary", "perplexity"),),
    "mean_entropy": (("entropy", "summary", "mean_entropy"),),
    "calibration_gap": (("entropy", "summary", "calibration_gap"),),
    "surplus_k2": (
        ("headline", "surplus_k2"),
        ("surplus", "summary", "surplus_k2"),
        ("surplus", "surplus_k", "2"),
    ),
    "alignment_lift_last": (
        ("headline", "alignment_lift_last"),
        ("spectral", "summary", "alignment_lift_last"),
    ),
    "effective_rank_last": (
        ("headline", "effective_rank_last"),
        ("spectral", "summary", "effective_rank_last"),
    ),
}


def _dig(payload: Any, path: tuple[str, ...]) -> Any:
    node = payload
    for key in path:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return node


def _number(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("estimate")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def headline(payload: dict[str, Any]) -> Headline:
    """Extract the headline numbers; None where a section is absent or not a finite number."""
    values: dict[str, float | None] = {}
    for field, paths in HEADLINE_PATHS.items():
        values[field] = None
        for path in paths:
            number = _number(_dig(payload, path))
            if number is not None:
                values[field] = number
                break
    return Headline(**values)

"""The headline numbers of a stored AnalysisResult payload (the model card and overview)."""

from __future__ import annotations

import math
from typing import Any

from markovlens.jobs.schemas import Headline

# Kernel preference for the alignment headline: the data-side prototype kernel is the
# theorem's test (metrics.md §3); the same-next-token kernel is the fallback.
_KERNEL_ORDER = ("proto", "lin", "bc", "hel")


def _dig(node: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _number(value: Any) -> float | None:
    """A finite float from a number or an Interval dict; None otherwise."""
    if isinstance(value, dict):
        value = value.get("estimate")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _by_k(mapping: Any, k: int) -> Any:
    """``mapping[k]``; JSON turns the int keys into strings, so accept both."""
    if not isinstance(mapping, dict):
        return None
    return mapping.get(str(k), mapping.get(k))


def _surplus_detected(surplus: Any, k: int) -> bool | None:
    """Whether Surplus_k was detected: the stored ``detected`` flag, else (results stored
    before that field) whether its interval's low is above 0; None without an interval."""
    stored = _by_k(_dig(surplus, "detected"), k)
    if isinstance(stored, bool):
        return stored
    interval = _by_k(_dig(surplus, "surplus"), k)
    low = _number(interval.get("low")) if isinstance(interval, dict) else None
    return None if low is None else low > 0.0


def _last_layer_entries(entries: Any) -> list[dict[str, Any]]:
    rows = [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    layers = [e["layer"] for e in rows if isinstance(e.get("layer"), int)]
    if not layers:
        return []
    last = max(layers)
    return [e for e in rows if e.get("layer") == last]


def _alignment_lift_last(spectral: Any) -> dict[str, float | None]:
    """Data-side lift A/A_rand at the last analysed layer, with its interval when stored."""
    rows = [e for e in _last_layer_entries(_dig(spectral, "alignment")) if e.get("side") == "data"]
    rows.sort(
        key=lambda e: (
            _KERNEL_ORDER.index(e["kernel"])
            if e.get("kernel") in _KERNEL_ORDER
            else len(_KERNEL_ORDER)
        )
    )
    row = rows[0] if rows else {}
    interval = row.get("lift_interval")
    interval = interval if isinstance(interval, dict) else {}
    return {
        "alignment_lift_last": _number(row.get("lift")),
        "alignment_lift_last_low": _number(interval.get("low")),
        "alignment_lift_last_high": _number(interval.get("high")),
    }


def _effective_rank_last(spectral: Any) -> float | None:
    rows = _last_layer_entries(_dig(spectral, "representation"))
    return _number(rows[0].get("effective_rank")) if rows else None


def headline(payload: dict[str, Any]) -> Headline:
    """Extract the headline numbers; None where a section is absent or not a finite number.

    Paths (AnalysisResult JSON): ``entropy.summary.{mean_nll, perplexity, mean_entropy,
    calibration_gap}``; ``surplus.surplus["2"]`` (Surplus_2), ``surplus.detected["2"]``
    (older results: derived from that interval's low > 0) and ``surplus.bounds["2"].high``;
    the data-side ``lift`` (and ``lift_interval``) of ``spectral.alignment`` at the last
    layer (kernel proto, else lin); the ``effective_rank`` of ``spectral.representation`` at
    the last layer.
    """
    summary = _dig(payload, "entropy", "summary")
    spectral = payload.get("spectral")
    surplus = payload.get("surplus")
    return Headline(
        mean_nll=_number(_dig(summary, "mean_nll")),
        perplexity=_number(_dig(summary, "perplexity")),
        mean_entropy=_number(_dig(summary, "mean_entropy")),
        calibration_gap=_number(_dig(summary, "calibration_gap")),
        surplus_k2=_number(_by_k(_dig(surplus, "surplus"), 2)),
        surplus_k2_detected=_surplus_detected(surplus, 2),
        surplus_k2_upper=_number(_dig(_by_k(_dig(surplus, "bounds"), 2), "high")),
        **_alignment_lift_last(spectral),
        effective_rank_last=_effective_rank_last(spectral),
    )

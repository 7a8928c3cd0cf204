"""The verdict of Surplus_K: the one rule, written once (docs/methods.md#surplus).

"detected": the 95% interval lies above zero with enough windows pooled; "not detected": it
does not (the estimate is then a floor, not a measurement of none); "insufficient data": fewer
than ``min_windows`` windows were pooled, so the interval decides nothing.

The engine stores the verdict by K in ``SurplusSuite.verdict`` (JSON: ``surplus.verdict["2"]``)
and the headline copies Surplus_2's into ``surplus_k2_verdict``; :func:`read_verdict` reads it
back from any stored document, older ones included. Readers (headline, CLI, dashboard) use
the stored value; none re-derives it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, get_args

Verdict = Literal["detected", "not detected", "insufficient data"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)
MIN_WINDOWS = 20  # SurplusConfig.min_windows' default


def is_detected(low: float) -> bool:
    """Surplus detected at this sample size: the 95% interval's low end lies above zero."""
    return low > 0.0


def verdict_of(low: float, windows: int | None, min_windows: int = MIN_WINDOWS) -> Verdict:
    """The verdict of one Surplus_K from its interval's low end and the windows pooled;
    ``windows`` None (older results): from the interval only."""
    if windows is not None and windows < min_windows:
        return "insufficient data"
    return "detected" if is_detected(low) else "not detected"


def _field(node: Any, name: str) -> Any:
    """``node[name]`` of a JSON dict, or ``node.name`` of a model (None when absent)."""
    if isinstance(node, Mapping):
        return node.get(name)
    return getattr(node, name, None)


def _by_k(mapping: Any, k: int) -> Any:
    """``mapping[k]``; JSON turns the int keys into strings, so accept both."""
    if not isinstance(mapping, Mapping):
        return None
    return mapping.get(str(k), mapping.get(k))


def read_verdict(surplus: Any, k: int) -> Verdict | None:
    """The stored verdict of Surplus_k in a surplus section (a JSON dict or a SurplusSuite);
    None without one.

    Results stored before ``verdict`` existed: from the ``detected`` flag, else from whether
    the interval's low is above 0 (they recorded no window count, so never "insufficient").
    """
    if surplus is None:
        return None
    stored = _by_k(_field(surplus, "verdict"), k)
    if stored in VERDICTS:
        return stored
    flag = _by_k(_field(surplus, "detected"), k)
    if isinstance(flag, bool):
        return "detected" if flag else "not detected"
    low = _field(_by_k(_field(surplus, "surplus"), k), "low")
    if isinstance(low, bool) or not isinstance(low, int | float) or not math.isfinite(low):
        return None
    return verdict_of(float(low), None)


def with_verdicts(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with ``surplus.verdict`` filled for every K of ``surplus.surplus`` (a copy
    where anything was missing): what the API serves, so every reader finds the stored
    verdict, results from before the field included."""
    surplus = payload.get("surplus")
    if not isinstance(surplus, Mapping) or not isinstance(surplus.get("surplus"), Mapping):
        return payload
    stored = surplus.get("verdict")
    stored = dict(stored) if isinstance(stored, Mapping) else {}
    missing = {}
    for key in map(str, surplus["surplus"]):
        verdict = read_verdict(surplus, int(key)) if key.isdigit() else None
        if key not in stored and verdict is not None:
            missing[key] = verdict
    if not missing:
        return payload
    return {**payload, "surplus": {**surplus, "verdict": {**stored, **missing}}}

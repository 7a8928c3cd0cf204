"""Types every section of a result shares."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

# The split of windows into probe-train / val / test is one setting of AnalysisConfig
# (train_fraction, val_fraction, split) that every suite uses. Suites once had their own
# fractions (surplus before cross-fitting, spectral until the split became shared).
RETIRED_SPLIT_KEYS = ("train_fraction", "val_fraction")
SPLIT_SETTING = "train_fraction, val_fraction and split at the top level of the config"


def drop_retired_split(values: Any) -> Any:
    """A suite config's stored values without the retired split keys (so old configs load).

    Submissions never get here with them: ``preset_config`` refuses them by name.
    """
    if isinstance(values, dict):
        return {k: v for k, v in values.items() if k not in RETIRED_SPLIT_KEYS}
    return values


class Interval(BaseModel):
    """A point estimate with a 95% interval (bootstrap over windows unless noted)."""

    estimate: float
    low: float
    high: float


class PositionCurve(BaseModel):
    """Mean of a per-token quantity by context position, with a 95% bootstrap band."""

    positions: list[int]
    mean: list[float]
    low: list[float]
    high: list[float]

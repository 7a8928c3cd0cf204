"""Types every section of a result shares."""

from __future__ import annotations

from pydantic import BaseModel


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

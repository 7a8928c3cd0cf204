"""Result schema of the entropy suite (docs/methods.md#entropy)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from markovlens.schema.common import Interval, PositionCurve


class EntropySummary(BaseModel):
    """Per-token aggregates of the entropy suite (nats)."""

    num_tokens: int
    mean_nll: Interval
    perplexity: float
    mean_entropy: Interval
    calibration_gap: Interval = Field(description="mean(nll) − mean(entropy); 0 if calibrated.")
    mean_gini: float
    top1_accuracy: float
    mean_top1_confidence: float


class CalibrationBin(BaseModel):
    """One equal-mass bin: mean of the binned quantity, mean outcome, token count."""

    mean_x: float
    mean_y: float
    count: int


class Calibration(BaseModel):
    """ECE over equal-mass bins of top-1 confidence (x = confidence, y = accuracy)."""

    ece: float
    bins: list[CalibrationBin]


class EntropySuite(BaseModel):
    summary: EntropySummary
    nll_by_position: PositionCurve
    entropy_by_position: PositionCurve
    calibration: Calibration | None = None
    entropy_reliability: list[CalibrationBin] | None = Field(
        default=None, description="Equal-mass bins of ent_t (x) → mean nll_t (y); y = x ideal."
    )
    unigram_entropy: float | None = Field(
        default=None, description="H(Y): plug-in unigram entropy of next tokens, add-½ smoothing."
    )

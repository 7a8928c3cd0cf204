"""Versioned schema of everything one analysis job produces.

JSON-able pydantic models for the numbers; large per-token arrays travel beside them in
``AnalysisOutput.arrays`` (stored as a compressed blob), so new aggregates need no re-run.
Bump ``SCHEMA_VERSION`` when a field changes meaning; adding optional sections does not.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from markovlens.analysis.config import AnalysisConfig

SCHEMA_VERSION = 1


class ModelMeta(BaseModel):
    """What the caller knows of the model (the app fills it from the models table)."""

    source: str
    revision: str | None = None
    content_hash: str | None = None
    architecture: str | None = None
    num_layers: int | None = None
    hidden_size: int | None = None
    vocab_size: int | None = None
    num_parameters: int | None = None


class CorpusMeta(BaseModel):
    """What the caller knows of the corpus: source string and hash of the token windows."""

    source: str
    hash: str
    num_windows: int
    window_len: int
    num_tokens: int


class Provenance(BaseModel):
    """Everything needed to say exactly what a number was computed from and how."""

    model: ModelMeta
    corpus: CorpusMeta
    config: AnalysisConfig
    seed: int
    versions: dict[str, str]
    device: str
    dtype: str
    stage_seconds: dict[str, float] = Field(default_factory=dict)
    peak_memory_bytes: int | None = None
    notes: list[str] = Field(default_factory=list, description="Estimator notes and caveats.")


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


class EntropySuite(BaseModel):
    summary: EntropySummary
    nll_by_position: PositionCurve
    entropy_by_position: PositionCurve


class AnalysisResult(BaseModel):
    """The JSON document of one job. Optional sections are filled as the engine grows."""

    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA_VERSION
    provenance: Provenance
    entropy: EntropySuite


class AnalysisOutput(BaseModel):
    """A result plus its per-token arrays (numpy, keyed by name)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    result: AnalysisResult
    arrays: dict[str, np.ndarray] = Field(default_factory=dict)

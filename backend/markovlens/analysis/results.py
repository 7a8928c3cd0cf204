"""Versioned schema of everything one analysis job produces.

JSON-able pydantic models for the numbers; large per-token arrays travel beside them in
``AnalysisOutput.arrays`` (stored as a compressed blob), so new aggregates need no re-run.
Bump ``SCHEMA_VERSION`` when a field changes meaning; adding optional sections does not.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

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
    notes: list[str] = Field(default_factory=list, description="How the windows were cut.")


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


class LensLayer(BaseModel):
    """Logit lens ``softmax(U·norm(h^ℓ))`` at one layer, averaged over the sampled contexts."""

    layer: int
    mean_entropy: float
    mean_nll: float
    mean_kl_to_last: float = Field(description="mean KL(p^L ‖ p^ℓ) (nats).")
    top1_agreement: float = Field(description="Rate argmax p^ℓ = argmax p^L.")
    top1_accuracy: float
    predictive_info: float = Field(description="I(H^ℓ; Y) ≥ H(Y) − CE^ℓ (nats).")


class LensFidelity(BaseModel):
    """The lens at ℓ = L against the model's own logits: max over contexts of ‖Δz‖∞ / ‖z‖∞."""

    num_contexts: int
    max_relative_error: float
    tolerance: float
    passed: bool


class LensSuite(BaseModel):
    layers: list[LensLayer]
    fidelity: LensFidelity
    unigram_entropy: float
    num_contexts: int
    architecture: dict[str, Any] = Field(default_factory=dict)


class ContextsInfo(BaseModel):
    """How the N contexts were drawn (the seed is the config's)."""

    num_contexts: int
    layers: list[int]
    min_position: int
    horizon: int
    split_counts: dict[str, int]
    split_windows: dict[str, int]


class ExactComparison(BaseModel):
    """Synthetic sources: the model against the true predictive p* (docs/methods.md#exact)."""

    source: str
    description: str
    mean_kl: Interval = Field(description="mean KL(p*_t ‖ p_t).")
    mean_true_entropy: Interval = Field(description="mean H(p*_t) = H_data.")
    mean_cross_entropy: float = Field(description="mean of −Σ p* log p = E_{y~p*}[nll].")
    nll_minus_cross_entropy: Interval = Field(
        description="Observed nll − expected nll; its interval should contain 0."
    )
    identity_max_abs_error: float = Field(description="max_t |CE_t − KL_t − H*_t| (fp64).")
    entropy_rate: float
    model_entropy_minus_true: float = Field(description="mean H(p_t) − mean H(p*_t).")
    kl_by_position: PositionCurve
    ideal_surplus: dict[int, float] = Field(default_factory=dict)
    extra: dict[str, float] = Field(default_factory=dict)


class AnalysisResult(BaseModel):
    """The JSON document of one job. Optional sections are filled as the engine grows."""

    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA_VERSION
    provenance: Provenance
    entropy: EntropySuite
    contexts: ContextsInfo | None = None
    lens: LensSuite | None = None
    surplus: SurplusSuite | None = None
    spectral: SpectralSuite | None = None
    exact: ExactComparison | None = None


class AnalysisOutput(BaseModel):
    """A result plus its per-token arrays (numpy, keyed by name)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    result: AnalysisResult
    arrays: dict[str, np.ndarray] = Field(default_factory=dict)


# Import cycle: config → surplus_schema → results (Interval). The package __init__ imports
# this module first, so by the time config runs, Interval exists; forward references are
# resolved here once the nested schemas are importable.
from markovlens.analysis.config import AnalysisConfig  # noqa: E402
from markovlens.analysis.spectral_schema import SpectralSuite  # noqa: E402
from markovlens.analysis.surplus_schema import SurplusSuite  # noqa: E402

_NAMESPACE = {
    "AnalysisConfig": AnalysisConfig,
    "SpectralSuite": SpectralSuite,
    "SurplusSuite": SurplusSuite,
}
for _model in (Provenance, AnalysisResult, AnalysisOutput):
    _model.model_rebuild(_types_namespace=_NAMESPACE)

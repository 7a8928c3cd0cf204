"""Versioned schema of everything one analysis job produces.

JSON-able pydantic models for the numbers; large per-token arrays travel beside them in
``AnalysisOutput.arrays`` (stored as a compressed blob), so new aggregates need no re-run.
Bump ``SCHEMA_VERSION`` when a field changes meaning; adding optional sections does not.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from markovlens.schema.common import metric
from markovlens.schema.config import AnalysisConfig
from markovlens.schema.entropy import EntropySuite
from markovlens.schema.exact_comparison import ExactComparison
from markovlens.schema.lens import LensSuite
from markovlens.schema.spectral import SpectralSuite
from markovlens.schema.surplus import SurplusSuite

SCHEMA_VERSION = 1


class ModelMeta(BaseModel):
    """What the caller knows of the model (the app fills it from the models table)."""

    source: str
    revision: str | None = None
    content_hash: str | None = None
    architecture: str | None = None
    num_layers: int | None = metric("count", None, "Transformer blocks L.", default=None)
    hidden_size: int | None = metric("count", None, "Width d of the residual stream.", default=None)
    vocab_size: int | None = metric("count", None, "Vocabulary size |V|.", default=None)
    num_parameters: int | None = metric("count", None, "Parameters of the model.", default=None)


class CorpusMeta(BaseModel):
    """What the caller knows of the corpus: source string and hash of the token windows."""

    source: str
    hash: str
    num_windows: int = metric("count", None, "Token windows analysed.")
    window_len: int = metric("tokens", None, "Tokens per window.")
    num_tokens: int = metric("tokens", None, "Tokens analysed (windows × window length).")
    notes: list[str] = Field(default_factory=list, description="How the windows were cut.")


class Provenance(BaseModel):
    """Everything needed to say exactly what a number was computed from and how."""

    model: ModelMeta
    corpus: CorpusMeta
    config: AnalysisConfig
    seed: int = metric("index", None, "The config's seed.")
    versions: dict[str, str]
    device: str
    dtype: str
    stage_seconds: dict[str, float] = metric(
        "seconds", None, "Time per stage of the job.", default_factory=dict
    )
    peak_memory_bytes: int | None = metric(
        "bytes", None, "Peak accelerator memory (None: not measured).", default=None
    )
    notes: list[str] = Field(default_factory=list, description="Estimator notes and caveats.")


class ContextsInfo(BaseModel):
    """How the N contexts were drawn (the seed is the config's)."""

    num_contexts: int = metric("count", None, "Sampled contexts N.")
    layers: list[int] = metric("index", None, "Residual-stream indices captured.")
    min_position: int = metric("index", None, "Earliest context position sampled.")
    horizon: int = metric(
        "tokens", None, "Future tokens kept per context (the surplus suite's max K)."
    )
    split_counts: dict[str, int] = metric("count", None, "Contexts per split (train/val/test).")
    split_windows: dict[str, int] = metric("count", None, "Windows per split (train/val/test).")


class AnalysisResult(BaseModel):
    """The JSON document of one job. Optional sections are filled as the engine grows."""

    model_config = ConfigDict(extra="allow")

    schema_version: int = metric(
        "index", None, "Version of this result format.", default=SCHEMA_VERSION
    )
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

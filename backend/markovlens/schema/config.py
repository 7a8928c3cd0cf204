"""Analysis configuration and its presets (quick / standard / full).

Every knob is overridable; overrides merge into the preset (nested sections merge key by key)
and are validated here, so a bad value fails at submission with a readable message. Checks that
need the model or the corpus (layer indices, actual window count) run in ``run_analysis``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from markovlens.schema.common import (
    RETIRED_SPLIT_KEYS,
    SPLIT_SETTING,
    bootstrap_samples_field,
    metric,
)
from markovlens.schema.spectral import SpectralConfig
from markovlens.schema.surplus import SurplusConfig

PresetName = Literal["quick", "standard", "full"]

# Defaults of the one split setting; also the fallback of suites run on contexts without one.
TRAIN_FRACTION = 0.6
VAL_FRACTION = 0.2


class LensConfig(BaseModel):
    """Per-layer logit lens on the sampled contexts."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    context_chunk: int = metric("count", None, "Contexts per lens matmul.", default=256, ge=1)
    fidelity_contexts: int = metric(
        "count",
        None,
        "Contexts whose model logits are kept for the check.",
        default=64,
        ge=1,
        le=4096,
    )
    fidelity_tolerance: float | None = metric(
        "ratio",
        None,
        "Max relative error of the lens at the last layer; None: 1e-4 in fp32, 3e-2 in bf16/fp16.",
        default=None,
        gt=0.0,
    )


class AnalysisConfig(BaseModel):
    """Every knob of one analysis job. Validated at the API boundary and in the worker."""

    model_config = ConfigDict(extra="forbid")

    preset: PresetName = "standard"
    seed: int = metric(
        "index",
        None,
        "Seed of every random draw (contexts, split, probes, bootstrap).",
        default=0,
        ge=0,
    )
    window_len: int = metric(
        "tokens", None, "Tokens per corpus window.", default=256, ge=8, le=8192
    )
    max_tokens: int = metric("tokens", None, "Tokens of corpus analysed.", default=16_384, ge=64)
    batch_size: int | None = metric("count", None, "None: adapt to memory.", default=None, ge=1)
    bootstrap_samples: int = bootstrap_samples_field()
    n_contexts: int = metric(
        "count",
        None,
        "N sampled contexts for lens/surplus/spectral.",
        default=2048,
        ge=16,
        le=65_536,
    )
    min_position: int = metric(
        "index",
        None,
        "Earliest context position sampled (skips the first tokens' attention sinks).",
        default=8,
        ge=0,
    )
    layers: list[int] | None = metric(
        "index",
        None,
        "Residual-stream indices to capture (0 = embeddings, L = last block); None: max_layers "
        "evenly spaced, always with 0 and L.",
        default=None,
    )
    max_layers: int | None = metric(
        "count", None, "Cap on captured layers when layers is None.", default=16, ge=2, le=1024
    )
    # The one split of windows into probe-train / val / test: every suite (lens, surplus's
    # cross-fitting blocks, spectral's held-out fit) reads the capture's split made from these.
    train_fraction: float = metric(
        "ratio", None, "Probe-train windows.", default=TRAIN_FRACTION, gt=0.0, lt=1.0
    )
    val_fraction: float = metric(
        "ratio", None, "Probe-val windows.", default=VAL_FRACTION, gt=0.0, lt=1.0
    )
    split: Literal["blocks", "random"] = Field(
        default="blocks",
        description="How windows go to train/val/test: contiguous blocks of windows (text "
        "windows are adjacent slices of the same documents) or each window at random. "
        "The one split setting: every suite uses it.",
    )
    ece_bins: int = metric("count", None, "Equal-mass confidence bins.", default=15, ge=2, le=200)
    reliability_bins: int = metric(
        "count", None, "Equal-mass entropy bins.", default=15, ge=2, le=200
    )
    lens: LensConfig = Field(default_factory=LensConfig)
    run_surplus: bool = True
    run_spectral: bool = True
    surplus: SurplusConfig = Field(default_factory=SurplusConfig)
    spectral: SpectralConfig = Field(default_factory=SpectralConfig)

    @property
    def horizon(self) -> int:
        """Future tokens y_t … y_{t+K−1} kept per context (K = the surplus suite's max K)."""
        return self.surplus.max_k

    @property
    def num_windows(self) -> int:
        """Windows the corpus resolver is asked for (it may return fewer)."""
        return self.max_tokens // self.window_len

    @model_validator(mode="after")
    def _consistent(self) -> AnalysisConfig:
        if self.train_fraction + self.val_fraction >= 1.0:
            raise ValueError("train_fraction + val_fraction must leave windows for the test split")
        if self.max_tokens < 3 * self.window_len:
            raise ValueError(
                f"max_tokens={self.max_tokens} gives fewer than 3 windows of {self.window_len} "
                "tokens; the probe-train / val / test split needs 3"
            )
        usable = self.window_len - 1 - self.horizon - self.min_position + 1
        if usable <= 0:
            raise ValueError(
                f"window_len={self.window_len} is too short for min_position={self.min_position} "
                f"and K={self.horizon}: need window_len > {self.min_position + self.horizon}"
            )
        capacity = self.num_windows * usable
        if self.n_contexts > capacity:
            raise ValueError(
                f"n_contexts={self.n_contexts} is larger than the corpus allows: "
                f"{self.num_windows} windows × {usable} usable positions = {capacity}. "
                "Lower n_contexts or raise max_tokens."
            )
        if self.layers is not None:
            if not self.layers:
                raise ValueError("layers must name at least one layer (or be null)")
            if min(self.layers) < 0:
                raise ValueError("layers are residual-stream indices ≥ 0 (0 = embedding output)")
        return self


_PRESETS: dict[str, dict[str, Any]] = {
    # CPU-sized: SmolLM2-135M in under 2 minutes on 2 idle cores. N = 2,400 ≥ 4·d for d ≤ 600,
    # so whitened alignment is not saturated (with N ≤ d every layer gives A = 1, lift = 1).
    "quick": {
        "window_len": 128,
        "max_tokens": 4096,
        "bootstrap_samples": 200,
        "n_contexts": 2400,
        "max_layers": 4,
        "lens": {"fidelity_contexts": 32},
        # Cross-fitted probes on every position (about 3.7k rows, 5 folds); the step and epoch
        # caps sit well above where early stopping ends them on SmolLM2 (no probe capped).
        # The frozen-head variant (a d × |V_train| softmax per row) is left to standard: with
        # it the surplus stage took 3.4× the capture stage (benchmarks/bench_surplus.py).
        # lr 1e-3 (not the synthetic tests' 1e-2): on SmolLM2 a 1e-2 AdamW step moved every
        # logit of a ~700-class softmax so far that no probe ever beat its start on validation.
        "surplus": {
            "max_k": 3,
            "max_layers": 3,
            "bootstrap_samples": 200,
            "batch_size": 512,
            "lr": 1e-3,
            "patience": 3,
            "frozen_head": False,
            "frozen_max_rows": 1024,
        },
        # Model side: only Ḡ (proto). K_lin, K_bc and K_hel need two N×N products per vocabulary
        # chunk and took half the spectral stage on SmolLM2; they are near-tautological next to
        # the head anyway (A → 1 untrained) and stay in standard and full.
        "spectral": {
            "rank": 64,
            "model_kernels": ["proto"],
            "fisher_contexts": 16,
            "dirichlet_random": 8,
            "capture_top": 16,
            "cca_top": 16,
        },
    },
    # The default: a few minutes on a CPU for a 135M model; N = 2,560 ≥ 4·d for d ≤ 640.
    "standard": {
        "window_len": 256,
        "max_tokens": 16_384,
        "n_contexts": 2560,
        "max_layers": 16,
        "surplus": {"lr": 1e-3, "patience": 6},
    },
    # GPU-sized: every layer, longer windows, N = 4096 (N ≥ 4·d for d ≤ 1024).
    "full": {
        "window_len": 1024,
        "max_tokens": 262_144,
        "n_contexts": 4096,
        "max_layers": None,
        "surplus": {
            "max_k": 5,
            "max_steps": 4000,
            "max_epochs": 60,
            "max_layers": 16,
            "lr": 1e-3,
            "patience": 6,
        },
        "spectral": {"rank": 256},
    },
}


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Overrides on top of base; nested dicts (lens, surplus, spectral) merge key by key."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _refuse_suite_splits(overrides: dict[str, Any]) -> None:
    """A submission naming a suite's own split fractions gets a readable error (stored
    configs that carry them still load: the suite configs drop them)."""
    for suite in ("surplus", "spectral"):
        section = overrides.get(suite)
        named = [k for k in RETIRED_SPLIT_KEYS if isinstance(section, dict) and k in section]
        if named:
            raise ValueError(
                f"{suite}.{named[0]} is not a setting: one split setting serves every suite "
                f"({SPLIT_SETTING})"
            )


def preset_config(preset: PresetName = "standard", **overrides: Any) -> AnalysisConfig:
    """The preset's values with ``overrides`` on top (all validated)."""
    if preset not in _PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(_PRESETS)}")
    _refuse_suite_splits(overrides)
    values = _merge(_PRESETS[preset], overrides)
    values["preset"] = preset
    return AnalysisConfig(**values)


def select_layers(config: AnalysisConfig, num_blocks: int) -> list[int]:
    """Residual-stream indices to capture for a model with ``num_blocks`` blocks (sorted).

    Always includes L (the lens fidelity check and the head-side suites need it).
    """
    last = num_blocks
    if config.layers is not None:
        bad = [layer for layer in config.layers if layer > last]
        if bad:
            raise ValueError(
                f"layers {bad} out of range: the model has {num_blocks} blocks, so residual-stream "
                f"indices run 0..{last}"
            )
        return sorted({*config.layers, last})
    if config.max_layers is None or config.max_layers >= last + 1:
        return list(range(last + 1))
    count = config.max_layers
    picks = {round(i * last / (count - 1)) for i in range(count)}
    return sorted(picks | {0, last})

"""Configuration and result schema of the information-surplus suite (docs/methods.md#surplus)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from markovlens.schema.common import Interval, drop_retired_split
from markovlens.schema.verdicts import Verdict, is_detected


class SurplusConfig(BaseModel):
    """Knobs of the surplus probes. Defaults suit the ``standard`` preset on a CPU."""

    model_config = ConfigDict(extra="forbid")

    max_k: int = Field(default=4, ge=2, le=5, description="Largest K of Surplus_K (2..5).")
    folds: int = Field(
        default=5, ge=3, le=20, description="Cross-fitting folds: contiguous blocks of windows."
    )
    min_windows: int = Field(
        default=20, ge=2, description="Windows needed for a verdict; fewer: insufficient data."
    )
    rank: int = Field(default=64, ge=4, le=1024, description="Width r of the model-free readout.")
    ngram_max_j: int = Field(default=2, ge=0, le=2, description="Count n-grams for j ≤ this.")
    frozen_head: bool = Field(
        default=True, description="Also fit the frozen-head readout (labelled variant)."
    )
    frozen_max_rows: int = Field(
        default=4096,
        ge=64,
        description="Train rows per fold for the frozen-head readout (a subsample: its softmax "
        "is d × |V_train| per row, the model-free one r × |V_train|).",
    )
    batch_size: int = Field(default=256, ge=1, le=8192)
    max_epochs: int = Field(default=60, ge=1, le=1000)
    max_steps: int = Field(default=1500, ge=1, description="Hard cap on optimiser steps per probe.")
    patience: int = Field(default=4, ge=1, description="Epochs without val improvement to stop.")
    lr: float = Field(default=1e-2, gt=0.0, le=1.0)
    weight_decay: float = Field(default=1e-4, ge=0.0, le=1.0)
    bootstrap_samples: int = Field(default=1000, ge=50, le=100_000)
    layers: list[int] | None = Field(
        default=None, description="Layers for per-layer term 1; None = evenly spaced captured."
    )
    max_layers: int = Field(default=8, ge=1, le=256, description="Cap when ``layers`` is None.")
    per_layer: bool = Field(default=True, description="Train the per-layer term-1 probes.")
    lookahead: bool = Field(default=True, description="Train the h_t-only lookahead probes.")
    eval_batch_size: int = Field(default=1024, ge=1)
    device: str = Field(default="auto", description="auto: cuda when available, else cpu.")
    train_precision: Literal["auto", "float32", "bfloat16"] = Field(
        default="float32",
        description="Training matmuls of the frozen-head readout (evaluation is fp32).",
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_retired(cls, values: Any) -> Any:
        # Stored configs from before cross-fitting carry the retired split fractions.
        return drop_retired_split(values)


class ProbeFit(BaseModel):
    """How one probe's training went (for the record and for debugging the estimate)."""

    name: str
    steps: int
    epochs: int
    best_val_ce: float
    test_ce: float
    seconds: float
    hit_cap: bool = Field(
        default=False,
        description="Stopped at its step or epoch cap while validation was still improving.",
    )
    fold: int | None = None
    train_rows: int | None = None


class SurplusTerm(BaseModel):
    """term_j = CE_test(no-state) − CE_test(with-state), paired bootstrap over test windows."""

    j: int
    term: Interval
    ce_with_state: float
    ce_no_state: float
    num_test_contexts: int
    state_used: bool | None = Field(
        default=None,
        description="Whether the with-state probe reads h_t: its h_t weights are not all exactly "
        "zero after training. False: early stopping kept its nested start (zero h_t weights), "
        "so term_j is 0 by construction, a floor. None: not recorded (older results).",
    )
    no_state_candidates: dict[str, float] = Field(
        default_factory=dict,
        description="Validation CE (pooled over folds) per no-state candidate.",
    )
    with_state_candidates: dict[str, float] = Field(
        default_factory=dict, description="Validation CE per with-state candidate."
    )
    no_state_test: dict[str, float] = Field(
        default_factory=dict,
        description="Test CE per no-state candidate (reported, not chosen on).",
    )
    with_state_test: dict[str, float] = Field(default_factory=dict)
    no_state_choice: str | None = Field(default=None, description="Lowest validation CE.")
    with_state_choice: str | None = None
    drafter_term: Interval | None = Field(
        default=None,
        description="The frozen-head variant: chosen no-state CE − frozen-head with-state CE, "
        "what a drafter that shares the model's head recovers.",
    )


class ContextCeiling(BaseModel):
    """C_j = no-state test CE − the model's own NLL at t+j; share = term_j / C_j."""

    j: int
    ceiling: Interval
    share: Interval | None = None


class LookaheadInfo(BaseModel):
    """I(H_t; Y_{t+j}) ≥ H(Y) − CE(q(y_{t+j} | h_t)); j = 0 is the model's own head."""

    j: int
    entropy_y: float = Field(description="H(Y_{t+j}): held-out CE of the best marginal.")
    ce_state: float
    info: Interval


class DraftingProxy(BaseModel):
    """acc_j: with-state probe argmax = the model's greedy token at t+j (a proxy)."""

    acc: dict[int, float]
    expected_accepted_length: dict[int, float] = Field(
        description="By K: Σ_{k=1}^{K−1} Π_{j≤k} acc_j (assumes independence; a proxy)."
    )


class LayerTerm(BaseModel):
    layer: int
    term1: Interval
    ce_with_state: float


class SurplusBounds(BaseModel):
    """0 ≤ Surplus_K ≤ H(Y_{t+1:t+K−1} | Y_t), the upper one from the no-state probes' CE."""

    low: float = 0.0
    high: float
    trivial_high: float = Field(description="(K−1)·log|V|.")


class SurplusSuite(BaseModel):
    """Everything the surplus tab shows (nats)."""

    max_k: int
    layer: int = Field(description="The layer whose h_t the main probes read (the last).")
    num_contexts: dict[str, int] = Field(description="Contexts per split (train/val/test).")
    num_windows: dict[str, int]
    terms: dict[int, SurplusTerm] = Field(description="By j = 1..K−1.")
    surplus: dict[int, Interval] = Field(description="Surplus_K by K = 2..max_k.")
    detected: dict[int, bool] = Field(
        default_factory=dict,
        description="By K: Surplus_K's 95% interval has low > 0. Filled from ``surplus`` when "
        "absent (results stored before this field).",
    )
    verdict: dict[int, Verdict] = Field(
        default_factory=dict,
        description="By K: insufficient data below min_windows pooled windows, else detected "
        "(95% interval above 0) or not detected.",
    )
    num_windows_pooled: int | None = Field(
        default=None, description="Windows whose test losses are pooled (every window once)."
    )
    folds: int | None = None
    all_positions: bool | None = Field(
        default=None, description="Probes trained on every position of train windows."
    )
    capped: bool = Field(default=False, description="Some probe hit its step or epoch cap.")
    ceiling: dict[int, ContextCeiling] = Field(default_factory=dict, description="By j ≥ 1.")
    marginal_entropy: float | None = Field(
        default=None, description="H(Y): the held-out marginal's test CE (model-free)."
    )
    vocab_train: int | None = Field(
        default=None, description="Probe-train vocabulary size (mean over folds), + 1 OOV class."
    )
    bounds: dict[int, SurplusBounds] = Field(description="By K.")
    lookahead: list[LookaheadInfo] = Field(default_factory=list)
    drafting: DraftingProxy | None = None
    per_layer: list[LayerTerm] = Field(default_factory=list)
    exact_surplus: dict[int, float] | None = Field(
        default=None, description="Synthetic sources: the ideal statistic's surplus by K."
    )
    probes: list[ProbeFit] = Field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fill_detected(self) -> SurplusSuite:
        if not self.detected:
            self.detected = {k: is_detected(iv.low) for k, iv in self.surplus.items()}
        if not self.verdict:  # older results recorded no window count: never "insufficient"
            self.verdict = {
                k: "detected" if self.detected.get(k) else "not detected" for k in self.surplus
            }
        return self

"""Configuration and result schema of the information-surplus suite (docs/methods.md#surplus)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from markovlens.schema.common import (
    Interval,
    bootstrap_samples_field,
    drop_retired_split,
    metric,
)
from markovlens.schema.verdicts import Verdict, is_detected


class SurplusConfig(BaseModel):
    """Knobs of the surplus probes. Defaults suit the ``standard`` preset on a CPU."""

    model_config = ConfigDict(extra="forbid")

    max_k: int = metric("tokens", None, "Largest K of Surplus_K (2..5).", default=4, ge=2, le=5)
    folds: int = metric(
        "count", None, "Cross-fitting folds: contiguous blocks of windows.", default=5, ge=3, le=20
    )
    min_windows: int = metric(
        "count", None, "Windows needed for a verdict; fewer: insufficient data.", default=20, ge=2
    )
    rank: int = metric(
        "count", None, "Width r of the model-free readout.", default=64, ge=4, le=1024
    )
    ngram_max_j: int = metric("index", None, "Count n-grams for j ≤ this.", default=2, ge=0, le=2)
    frozen_head: bool = Field(
        default=True, description="Also fit the frozen-head readout (labelled variant)."
    )
    frozen_max_rows: int = metric(
        "count",
        None,
        "Train rows per fold for the frozen-head readout (a subsample: its softmax is d × "
        "|V_train| per row, the model-free one r × |V_train|).",
        default=4096,
        ge=64,
    )
    batch_size: int = metric(
        "count", None, "Training rows per optimiser step.", default=256, ge=1, le=8192
    )
    max_epochs: int = metric("count", None, "Cap on epochs per probe.", default=60, ge=1, le=1000)
    max_steps: int = metric(
        "count", None, "Hard cap on optimiser steps per probe.", default=1500, ge=1
    )
    patience: int = metric(
        "count", None, "Epochs without val improvement to stop.", default=4, ge=1
    )
    lr: float = metric(
        "dimensionless", None, "AdamW learning rate of the probes.", default=1e-2, gt=0.0, le=1.0
    )
    weight_decay: float = metric(
        "dimensionless", None, "AdamW weight decay of the probes.", default=1e-4, ge=0.0, le=1.0
    )
    bootstrap_samples: int = bootstrap_samples_field()
    layers: list[int] | None = metric(
        "index", None, "Layers for per-layer term 1; None = evenly spaced captured.", default=None
    )
    max_layers: int = metric("count", None, "Cap when ``layers`` is None.", default=8, ge=1, le=256)
    per_layer: bool = Field(default=True, description="Train the per-layer term-1 probes.")
    lookahead: bool = Field(default=True, description="Train the h_t-only lookahead probes.")
    eval_batch_size: int = metric("count", None, "Rows per evaluation batch.", default=1024, ge=1)
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
    steps: int = metric("count", None, "Optimiser steps taken.")
    epochs: int = metric("count", None, "Epochs taken.")
    best_val_ce: float = metric(
        "nats", "lower", "Lowest validation cross-entropy (the kept weights)."
    )
    test_ce: float = metric("nats", "lower", "Test cross-entropy of the kept weights.")
    seconds: float = metric("seconds", None, "Training time.")
    hit_cap: bool = Field(
        default=False,
        description="Stopped at its step or epoch cap while validation was still improving.",
    )
    fold: int | None = metric(
        "index", None, "Cross-fitting fold (None: not cross-fitted).", default=None
    )
    train_rows: int | None = metric("count", None, "Training rows.", default=None)


class SurplusTerm(BaseModel):
    """term_j = CE_test(no-state) − CE_test(with-state), paired bootstrap over test windows."""

    j: int = metric("index", None, "Offset j: the term is about y_{t+j}.")
    term: Interval = metric("nats", None, "term_j = CE_test(no-state) − CE_test(with-state).")
    ce_with_state: float = metric(
        "nats", None, "Test CE of the chosen with-state probe (reads h_t)."
    )
    ce_no_state: float = metric("nats", None, "Test CE of the chosen no-state probe (tokens only).")
    num_test_contexts: int = metric("count", None, "Test contexts pooled over folds.")
    state_used: bool | None = Field(
        default=None,
        description="Whether the with-state probe reads h_t: its h_t weights are not all exactly "
        "zero after training. False: early stopping kept its nested start (zero h_t weights), "
        "so term_j is 0 by construction, a floor. None: not recorded (older results).",
    )
    no_state_candidates: dict[str, float] = metric(
        "nats",
        None,
        "Validation CE (pooled over folds) per no-state candidate.",
        default_factory=dict,
    )
    with_state_candidates: dict[str, float] = metric(
        "nats", None, "Validation CE per with-state candidate.", default_factory=dict
    )
    no_state_test: dict[str, float] = metric(
        "nats",
        None,
        "Test CE per no-state candidate (reported, not chosen on).",
        default_factory=dict,
    )
    with_state_test: dict[str, float] = metric(
        "nats", None, "Test CE per with-state candidate.", default_factory=dict
    )
    no_state_choice: str | None = Field(default=None, description="Lowest validation CE.")
    with_state_choice: str | None = None
    drafter_term: Interval | None = metric(
        "nats",
        None,
        "The frozen-head variant: chosen no-state CE − frozen-head with-state CE, what a drafter "
        "that shares the model's head recovers.",
        default=None,
    )


class ContextCeiling(BaseModel):
    """C_j = no-state test CE − the model's own NLL at t+j; share = term_j / C_j."""

    j: int = metric("index", None, "Offset j.")
    ceiling: Interval = metric("nats", None, "C_j = no-state test CE − the model's own NLL at t+j.")
    share: Interval | None = metric(
        "ratio", None, "term_j / C_j: the share of the context ceiling.", default=None
    )


class LookaheadInfo(BaseModel):
    """I(H_t; Y_{t+j}) ≥ H(Y) − CE(q(y_{t+j} | h_t)); j = 0 is the model's own head."""

    j: int = metric("index", None, "Offset j (0: the model's own head).")
    entropy_y: float = metric("nats", None, "H(Y_{t+j}): held-out CE of the best marginal.")
    ce_state: float = metric("nats", "lower", "Held-out CE of q(y_{t+j} | h_t).")
    info: Interval = metric("nats", "higher", "I(H_t; Y_{t+j}) ≥ H(Y) − CE(q(y_{t+j} | h_t)).")


class DraftingProxy(BaseModel):
    """acc_j: with-state probe argmax = the model's greedy token at t+j (a proxy)."""

    acc: dict[int, float] = metric(
        "probability",
        "higher",
        "By j: rate the with-state probe's argmax is the model's greedy token at t+j.",
    )
    expected_accepted_length: dict[int, float] = metric(
        "tokens", "higher", "By K: Σ_{k=1}^{K−1} Π_{j≤k} acc_j (assumes independence; a proxy)."
    )


class LayerTerm(BaseModel):
    layer: int = metric("index", None, "Residual-stream index ℓ whose h_t the probe reads.")
    term1: Interval = metric("nats", None, "term_1 read from layer ℓ.")
    ce_with_state: float = metric("nats", None, "Test CE of the with-state probe at layer ℓ.")


class SurplusBounds(BaseModel):
    """0 ≤ Surplus_K ≤ H(Y_{t+1:t+K−1} | Y_t), the upper one from the no-state probes' CE."""

    low: float = metric("nats", None, "Lower bound of Surplus_K (0).", default=0.0)
    high: float = metric(
        "nats", None, "Upper bound H(Y_{t+1:t+K−1} | Y_t), from the no-state probes' CE."
    )
    trivial_high: float = metric("nats", None, "(K−1)·log|V|.")


class SurplusSuite(BaseModel):
    """Everything the surplus tab shows (nats)."""

    max_k: int = metric("tokens", None, "Largest K of Surplus_K.")
    layer: int = metric("index", None, "The layer whose h_t the main probes read (the last).")
    num_contexts: dict[str, int] = metric("count", None, "Contexts per split (train/val/test).")
    num_windows: dict[str, int] = metric("count", None, "Windows per split (train/val/test).")
    terms: dict[int, SurplusTerm] = Field(description="By j = 1..K−1.")
    surplus: dict[int, Interval] = metric("nats", None, "Surplus_K by K = 2..max_k.")
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
    num_windows_pooled: int | None = metric(
        "count", None, "Windows whose test losses are pooled (every window once).", default=None
    )
    folds: int | None = metric("count", None, "Cross-fitting folds.", default=None)
    all_positions: bool | None = Field(
        default=None, description="Probes trained on every position of train windows."
    )
    capped: bool = Field(default=False, description="Some probe hit its step or epoch cap.")
    ceiling: dict[int, ContextCeiling] = Field(default_factory=dict, description="By j ≥ 1.")
    marginal_entropy: float | None = metric(
        "nats", None, "H(Y): the held-out marginal's test CE (model-free).", default=None
    )
    vocab_train: int | None = metric(
        "count", None, "Probe-train vocabulary size (mean over folds), + 1 OOV class.", default=None
    )
    bounds: dict[int, SurplusBounds] = Field(description="By K.")
    lookahead: list[LookaheadInfo] = Field(default_factory=list)
    drafting: DraftingProxy | None = None
    per_layer: list[LayerTerm] = Field(default_factory=list)
    exact_surplus: dict[int, float] | None = metric(
        "nats", None, "Synthetic sources: the ideal statistic's surplus by K.", default=None
    )
    probes: list[ProbeFit] = Field(default_factory=list)
    seconds: float = metric("seconds", None, "Time the surplus suite took.", default=0.0)
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

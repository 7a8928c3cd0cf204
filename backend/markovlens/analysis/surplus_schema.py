"""Configuration and result schema of the information-surplus suite (metrics.md §2)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from markovlens.analysis.results import Interval


class SurplusConfig(BaseModel):
    """Knobs of the surplus probes. Defaults suit the ``standard`` preset on a CPU."""

    model_config = ConfigDict(extra="forbid")

    max_k: int = Field(default=4, ge=2, le=5, description="Largest K of Surplus_K (2..5).")
    train_fraction: float = Field(default=0.6, gt=0.0, lt=1.0)
    val_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    batch_size: int = Field(default=64, ge=1, le=4096)
    max_epochs: int = Field(default=8, ge=1, le=1000)
    max_steps: int = Field(default=200, ge=1, description="Hard cap on optimiser steps per probe.")
    patience: int = Field(default=2, ge=1, description="Epochs without val improvement to stop.")
    lr: float = Field(default=2e-3, gt=0.0, le=1.0)
    weight_decay: float = Field(default=1e-4, ge=0.0, le=1.0)
    bootstrap_samples: int = Field(default=1000, ge=50, le=100_000)
    layers: list[int] | None = Field(
        default=None, description="Layers for per-layer term 1; None = evenly spaced captured."
    )
    max_layers: int = Field(default=8, ge=1, le=256, description="Cap when ``layers`` is None.")
    per_layer: bool = Field(default=True, description="Train the per-layer term-1 probes.")
    lookahead: bool = Field(default=True, description="Train the h_t-only lookahead probes.")
    eval_batch_size: int = Field(default=256, ge=1)
    device: str = Field(default="auto", description="auto: cuda when available, else cpu.")
    train_precision: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto",
        description="Training matmuls only (evaluation is fp32). auto: bf16 on CUDA and on "
        "CPUs with AMX tiles, fp32 elsewhere.",
    )

    @model_validator(mode="after")
    def _fractions(self) -> SurplusConfig:
        if self.train_fraction + self.val_fraction >= 1.0:
            raise ValueError("train_fraction + val_fraction must leave windows for the test split")
        return self


class ProbeFit(BaseModel):
    """How one probe's training went (for the record and for debugging the estimate)."""

    name: str
    steps: int
    epochs: int
    best_val_ce: float
    test_ce: float
    seconds: float


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


def is_detected(interval: Interval) -> bool:
    """Surplus detected at this sample size: the 95% interval lies above zero."""
    return interval.low > 0.0


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
            self.detected = {k: is_detected(iv) for k, iv in self.surplus.items()}
        return self

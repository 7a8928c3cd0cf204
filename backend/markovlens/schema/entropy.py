"""Result schema of the entropy suite (docs/methods.md#entropy)."""

from __future__ import annotations

from pydantic import BaseModel

from markovlens.schema.common import Interval, PositionCurve, metric


class EntropySummary(BaseModel):
    """Per-token aggregates of the entropy suite (nats)."""

    num_tokens: int = metric("tokens", None, "Tokens scored: every token with a next token.")
    mean_nll: Interval = metric(
        "nats", "lower", "Mean next-token negative log-likelihood (cross-entropy)."
    )
    perplexity: float = metric("dimensionless", "lower", "exp(mean NLL).")
    mean_entropy: Interval = metric(
        "nats", None, "Mean entropy of the model's next-token distribution."
    )
    calibration_gap: Interval = metric(
        "nats", "zero", "mean(nll) − mean(entropy); 0 if calibrated."
    )
    mean_gini: float = metric(
        "probability", None, "Mean Gini impurity 1 − Σp² of the next-token distribution."
    )
    top1_accuracy: float = metric(
        "probability", "higher", "Rate at which the most likely next token is the one that follows."
    )
    mean_top1_confidence: float = metric(
        "probability", None, "Mean probability of the most likely next token."
    )


class CalibrationBin(BaseModel):
    """One equal-mass bin: mean of the binned quantity, mean outcome, token count.

    ``mean_x`` and ``mean_y`` are in the unit of the field that holds the bins.
    """

    mean_x: float
    mean_y: float
    count: int = metric("tokens", None, "Tokens in the bin.")


class Calibration(BaseModel):
    """ECE over equal-mass bins of top-1 confidence (x = confidence, y = accuracy)."""

    ece: float = metric(
        "probability",
        "lower",
        "Expected calibration error: mean |accuracy − confidence| over "
        "equal-mass bins of top-1 confidence.",
    )
    bins: list[CalibrationBin] = metric(
        "probability", None, "Equal-mass bins: mean top-1 confidence (x) → accuracy (y)."
    )


class EntropySuite(BaseModel):
    summary: EntropySummary
    nll_by_position: PositionCurve = metric(
        "nats", "lower", "Mean next-token NLL by context position."
    )
    entropy_by_position: PositionCurve = metric(
        "nats", None, "Mean entropy of the prediction by context position."
    )
    calibration: Calibration | None = None
    entropy_reliability: list[CalibrationBin] | None = metric(
        "nats",
        None,
        "Equal-mass bins of ent_t (x) → mean nll_t (y); y = x ideal.",
        default=None,
    )
    unigram_entropy: float | None = metric(
        "nats",
        None,
        "H(Y): plug-in unigram entropy of next tokens, add-½ smoothing.",
        default=None,
    )

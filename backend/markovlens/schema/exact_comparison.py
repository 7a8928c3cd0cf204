"""Result schema of the comparison with a synthetic source's exact predictive."""

from __future__ import annotations

from pydantic import BaseModel

from markovlens.schema.common import Interval, PositionCurve, metric


class ExactComparison(BaseModel):
    """Synthetic sources: the model against the true predictive p* (docs/methods.md#exact)."""

    source: str
    description: str
    mean_kl: Interval = metric("nats", "lower", "mean KL(p*_t ‖ p_t).")
    mean_true_entropy: Interval = metric("nats", None, "mean H(p*_t) = H_data.")
    mean_cross_entropy: float = metric("nats", None, "mean of −Σ p* log p = E_{y~p*}[nll].")
    nll_minus_cross_entropy: Interval = metric(
        "nats", "zero", "Observed nll − expected nll; its interval should contain 0."
    )
    identity_max_abs_error: float = metric("nats", "lower", "max_t |CE_t − KL_t − H*_t| (fp64).")
    entropy_rate: float = metric("nats", None, "The source's exact entropy rate.")
    model_entropy_minus_true: float = metric("nats", "zero", "mean H(p_t) − mean H(p*_t).")
    kl_by_position: PositionCurve = metric("nats", "lower", "KL(p*_t ‖ p_t) by position.")
    ideal_surplus: dict[int, float] = metric(
        "nats", None, "By K: the surplus of the ideal statistic.", default_factory=dict
    )
    extra: dict[str, float] = metric(
        "nats",
        None,
        "More reference numbers, in nats except the counts num_states and surplus_contexts.",
        key_units={"num_states": "count", "surplus_contexts": "count"},
        default_factory=dict,
    )

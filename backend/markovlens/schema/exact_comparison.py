"""Result schema of the comparison with a synthetic source's exact predictive."""

from __future__ import annotations

from pydantic import BaseModel, Field

from markovlens.schema.common import Interval, PositionCurve


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

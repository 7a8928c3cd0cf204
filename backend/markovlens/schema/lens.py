"""Result schema of the per-layer logit lens (docs/methods.md#lens)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


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

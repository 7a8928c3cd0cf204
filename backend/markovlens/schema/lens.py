"""Result schema of the per-layer logit lens (docs/methods.md#lens)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from markovlens.schema.common import metric


class LensLayer(BaseModel):
    """Logit lens ``softmax(U·norm(h^ℓ))`` at one layer, averaged over the sampled contexts."""

    layer: int = metric("index", None, "Residual-stream index ℓ (0 = embeddings).")
    mean_entropy: float = metric("nats", None, "Mean entropy of the lens's distribution p^ℓ.")
    mean_nll: float = metric("nats", "lower", "Mean NLL of the next token under p^ℓ.")
    mean_kl_to_last: float = metric("nats", None, "mean KL(p^L ‖ p^ℓ).")
    top1_agreement: float = metric("probability", None, "Rate argmax p^ℓ = argmax p^L.")
    top1_accuracy: float = metric(
        "probability", "higher", "Rate argmax p^ℓ is the token that follows."
    )
    predictive_info: float = metric("nats", "higher", "I(H^ℓ; Y) ≥ H(Y) − CE^ℓ.")


class LensFidelity(BaseModel):
    """The lens at ℓ = L against the model's own logits: max over contexts of ‖Δz‖∞ / ‖z‖∞."""

    num_contexts: int = metric("count", None, "Contexts checked.")
    max_relative_error: float = metric("ratio", "lower", "max over contexts of ‖Δz‖∞ / ‖z‖∞.")
    tolerance: float = metric("ratio", None, "Largest relative error that passes.")
    passed: bool


class LensSuite(BaseModel):
    layers: list[LensLayer]
    fidelity: LensFidelity
    unigram_entropy: float = metric("nats", None, "H(Y) of the sampled contexts' next tokens.")
    num_contexts: int = metric("count", None, "Sampled contexts N the lens averages over.")
    architecture: dict[str, Any] = Field(default_factory=dict)

"""The head kernel ``h ↦ softmax(U·norm(h) + b)``: what the lens, the spectral suite and the
frozen-head readout apply to residual-stream states.

``HeadSpec`` holds the model's own final norm module and unembedding as introspection found
them (architecture.py); ``HeadSpec.to`` makes a frozen copy on another device or dtype, so the
analysis never touches the model's own head.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

# Attributes accelerate adds when it dispatches a model (device_map): an instance ``forward``
# that first moves the inputs to the module's original execution device.
_DISPATCH_ATTRIBUTES = ("forward", "_old_forward", "_hf_hook")


def frozen_copy(module: nn.Module, device: torch.device | str, dtype: torch.dtype) -> nn.Module:
    """A deep copy of ``module`` on ``device`` in ``dtype`` with no gradients and no device
    hooks: a copy of a dispatched module would otherwise keep moving its inputs back to the
    original's device."""
    clone = copy.deepcopy(module)
    for sub in clone.modules():
        for name in _DISPATCH_ATTRIBUTES:
            sub.__dict__.pop(name, None)
    clone = clone.to(device=device, dtype=dtype)
    for param in clone.parameters():
        param.requires_grad_(False)
    return clone


@dataclass
class HeadSpec:
    """The head kernel ``h ↦ softmax(U·norm(h) + b)`` as found by architecture introspection.

    ``norm`` is the model's own final norm module (its exact epsilon / offset); the lens applies
    it afresh to each layer's hidden state.
    """

    norm: nn.Module
    unembed: torch.Tensor  # [V, d]
    bias: torch.Tensor | None = None  # [V]
    logit_scale: float = 1.0
    final_softcap: float | None = None

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits of the head applied to residual-stream states ``hidden`` [..., d]."""
        normed = self.norm(hidden.to(self.unembed.dtype))
        logits = normed @ self.unembed.T
        if self.bias is not None:
            logits = logits + self.bias
        logits = logits * self.logit_scale
        if self.final_softcap is not None:
            logits = torch.tanh(logits / self.final_softcap) * self.final_softcap
        return logits

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> HeadSpec:
        """A detached copy on ``device`` in ``dtype`` (the model's own head is left untouched).

        Tensors already on that device in that dtype are shared, not copied (tied embeddings).
        """
        return HeadSpec(
            norm=frozen_copy(self.norm, device, dtype),
            unembed=self.unembed.detach().to(device=device, dtype=dtype),
            bias=None if self.bias is None else self.bias.detach().to(device=device, dtype=dtype),
            logit_scale=self.logit_scale,
            final_softcap=self.final_softcap,
        )


def describe_norm(norm: nn.Module) -> dict[str, Any]:
    """Kind, epsilon and offset of a final norm (for provenance; the lens uses the module)."""
    inner = norm[0] if isinstance(norm, nn.Sequential) and len(norm) > 0 else norm
    name = type(inner).__name__
    eps = None
    for attr in ("eps", "variance_epsilon", "epsilon"):
        value = getattr(inner, attr, None)
        if isinstance(value, float | int):
            eps = float(value)
            break
    kind = "identity"
    if isinstance(inner, nn.LayerNorm) or "LayerNorm" in name:
        kind = "layernorm"
    elif "RMSNorm" in name or "RmsNorm" in name:
        kind = "rmsnorm"
    # Gemma's RMSNorm multiplies by (1 + w): its weight is initialised at zero.
    offset = 1.0 if name.startswith("Gemma") and kind == "rmsnorm" else 0.0
    return {"class": name, "kind": kind, "eps": eps, "weight_offset": offset}

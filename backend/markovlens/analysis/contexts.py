"""The hand-off between the capture pass and the surplus/spectral suites.

Capture (capture.py) fills these; surplus.py and spectral.py only read them, so each suite can
be tested on synthetic arrays without a model.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

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


@dataclass
class SampledContexts:
    """N sampled contexts (positions t of windows) with what the suites need about them.

    ``hidden[ℓ]`` is the residual stream after block ℓ (ℓ = 0: embedding output; ℓ = L: last
    block, before the final norm), fp32 on CPU, [N, d]. ``future_tokens[:, j]`` is y_{t+j}
    (j = 0 is the next token), −1 where t+j runs past the window; ``greedy_future[:, j]`` is the
    model's own argmax at position t+j (−1 likewise). Contexts are sorted by (window, position);
    capture samples t so that every future column is filled.

    ``split`` is 0 (probe-train), 1 (probe-val) or 2 (test), assigned by *window* with
    ``seed``. ``embed`` is the input embedding as the first block sees it (Gemma's √d scale
    included) and ``head`` a detached fp32 CPU copy of the model's head: both are frozen.
    ``current_tokens[i]`` is x_t, the last token of context i. ``hidden`` holds only the
    captured layers (keys are layer indices, not necessarily contiguous).
    """

    hidden: dict[int, torch.Tensor]
    window_index: torch.Tensor  # [N] int64
    position: torch.Tensor  # [N] int64
    future_tokens: torch.Tensor  # [N, K] int64
    greedy_future: torch.Tensor  # [N, K] int64
    embed: torch.Tensor  # [V, d] frozen input embedding
    head: HeadSpec
    split: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int8))  # [N]
    current_tokens: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    seed: int = 0

    def split_mask(self, name: str) -> torch.Tensor:
        """Boolean [N] mask of ``"train"``, ``"val"`` or ``"test"`` contexts."""
        code = {"train": 0, "val": 1, "test": 2}[name]
        return self.split == code

    @property
    def num_contexts(self) -> int:
        return int(self.window_index.shape[0])

    @property
    def last_layer(self) -> int:
        return max(self.hidden)

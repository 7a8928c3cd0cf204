"""The hand-off between the capture pass and the surplus/spectral suites.

The capture layer fills these; surplus.py and spectral.py only read them, so each suite can be
tested on synthetic arrays without a model. The head itself lives in head.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from markovlens.analysis.head import HeadSpec


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

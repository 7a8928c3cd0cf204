"""The capture pass's top-k next tokens, quantised for storage.

The token view that reads them back (and the array names) is ``markovlens.schema.tokens``,
torch-free so the API serves it without loading the engine; its names are re-exported here.
"""

from __future__ import annotations

import torch

from markovlens.schema.tokens import (
    LENS_TOP1,
    LENS_TOP1_PROB,
    Q16,
    TOKEN_IDS,
    TOPK,
    TOPK_IDS,
    TOPK_PROBS,
    VOCAB_IDS,
    VOCAB_TEXT,
    TokenViewError,
    TokenWindow,
    dequantize_probs,
    symbol_name,
    token_storage_bytes,
    used_ids,
    vocabulary_table,
    window_view,
)

__all__ = [
    "LENS_TOP1",
    "LENS_TOP1_PROB",
    "TOKEN_IDS",
    "TOPK",
    "TOPK_IDS",
    "TOPK_PROBS",
    "VOCAB_IDS",
    "VOCAB_TEXT",
    "TokenViewError",
    "TokenWindow",
    "dequantize_probs",
    "quantize_probs",
    "symbol_name",
    "token_storage_bytes",
    "topk_of",
    "used_ids",
    "vocabulary_table",
    "window_view",
]


def quantize_probs(probs: torch.Tensor) -> torch.Tensor:
    """floor(p · 65535) as int32 (cast to uint16 on store): each top-k keeps Σ ≤ 1 exactly."""
    return torch.floor(probs.double().clamp(0.0, 1.0) * Q16).to(torch.int32)


def topk_of(
    logits: torch.Tensor, k: int = TOPK, top1_prob: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids int32, quantised probabilities int32) of the ``k`` most likely next tokens per row.

    ``top1_prob`` (the top-1 probability, which the token statistics already hold) saves the
    logsumexp pass over |V|: p_i = p_1 · exp(z_i − z_1).
    """
    k = min(k, int(logits.shape[-1]))
    z = logits.float()
    top, ids = z.topk(k, dim=-1)
    if top1_prob is None:
        log_norm = torch.logsumexp(z, dim=-1, keepdim=True)
        probs = (top - log_norm).exp()
    else:
        probs = top1_prob.float().unsqueeze(-1) * (top - top[..., :1]).exp()
    return ids.to(torch.int32), quantize_probs(probs)

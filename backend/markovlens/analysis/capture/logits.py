"""Per-token statistics from the model's logits, one window and ``ROW_CHUNK`` rows at a time.

No temporary is larger than ``ROW_CHUNK × |V|``: the pass never keeps a batch's statistics in
logits form. With a synthetic corpus's exact predictive p*, the per-token KL(p*‖p), H(p*) and
cross-entropy come out of the same chunks.
"""

from __future__ import annotations

import numpy as np
import torch

from markovlens.analysis.entropy import token_stats
from markovlens.analysis.tokens import TOPK, TOPK_IDS, TOPK_PROBS, topk_of

TOKEN_FLOAT_ARRAYS = ("nll", "entropy", "gini", "top1_hit", "top1_conf")
EXACT_ARRAYS = ("exact_kl", "exact_true_entropy", "exact_cross_entropy")
ROW_CHUNK = 512  # rows of logits reduced at once: bounds temporaries at chunk × |V|


def allocate_token_arrays(
    n_windows: int, n_pos: int, true_probs: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Zeroed [windows, T−1] arrays: float32 statistics, int32 "argmax", and the exact-terms
    arrays when the corpus comes with its true predictive ``true_probs`` [windows, T−1, V]."""
    arrays = {name: np.zeros((n_windows, n_pos), dtype=np.float32) for name in TOKEN_FLOAT_ARRAYS}
    arrays["argmax"] = np.zeros((n_windows, n_pos), dtype=np.int32)
    if true_probs is not None:
        if true_probs.shape[:2] != (n_windows, n_pos):
            raise ValueError(
                f"reference true_probs has shape {true_probs.shape}, expected "
                f"({n_windows}, {n_pos}, V)"
            )
        for name in EXACT_ARRAYS:
            arrays[name] = np.zeros((n_windows, n_pos), dtype=np.float32)
    return arrays


def reduce_logits(
    logits: torch.Tensor,
    batch: torch.Tensor,
    start: int,
    arrays: dict[str, np.ndarray],
    true_probs: np.ndarray | None,
) -> None:
    """Per-token statistics of one batch (windows ``start…``), ``ROW_CHUNK`` rows at a time.

    Also the top-``TOPK`` next tokens per token (ids int32, probabilities as uint16
    floor(p·65535)): 30 bytes a token, what the token view's hover shows.
    """
    n_pos = batch.shape[1] - 1
    if TOPK_IDS not in arrays:  # allocated on first use: shaped like the other token arrays
        k = min(TOPK, int(logits.shape[-1]))
        n_windows = arrays["nll"].shape[0]
        arrays[TOPK_IDS] = np.zeros((n_windows, n_pos, k), dtype=np.int32)
        arrays[TOPK_PROBS] = np.zeros((n_windows, n_pos, k), dtype=np.uint16)
    for b in range(batch.shape[0]):
        for r0 in range(0, n_pos, ROW_CHUNK):
            r1 = min(n_pos, r0 + ROW_CHUNK)
            rows = (start + b, slice(r0, r1))
            _reduce_chunk(logits[b, r0:r1], batch[b, r0 + 1 : r1 + 1], rows, arrays, true_probs)


def _reduce_chunk(
    chunk: torch.Tensor,
    targets: torch.Tensor,
    rows: tuple[int, slice],
    arrays: dict[str, np.ndarray],
    true_probs: np.ndarray | None,
) -> None:
    """Statistics of ``chunk`` [r, V] (next tokens ``targets``) into ``arrays[name][rows]``."""
    stats = token_stats(chunk, targets)
    for name in TOKEN_FLOAT_ARRAYS:
        arrays[name][rows] = getattr(stats, name).float().cpu().numpy()
    arrays["argmax"][rows] = stats.argmax.cpu().numpy()
    top_ids, top_q = topk_of(chunk, top1_prob=stats.top1_conf)
    arrays[TOPK_IDS][rows] = top_ids.cpu().numpy()
    arrays[TOPK_PROBS][rows] = top_q.cpu().numpy().astype(np.uint16)
    if true_probs is not None:
        pstar = torch.from_numpy(np.ascontiguousarray(true_probs[rows]))
        kl, true_ent, cross = exact_token_terms(chunk, pstar)
        arrays["exact_kl"][rows] = kl.numpy()
        arrays["exact_true_entropy"][rows] = true_ent.numpy()
        arrays["exact_cross_entropy"][rows] = cross.numpy()


def exact_token_terms(
    logits: torch.Tensor, true_probs: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(KL(p*‖p), H(p*), CE(p*, p)) per row, in fp64 on CPU; CE = KL + H* holds exactly."""
    logp = torch.log_softmax(logits.double().cpu(), dim=-1)
    pstar = true_probs.double()
    if pstar.shape[-1] != logp.shape[-1]:
        raise ValueError(
            f"reference vocabulary {pstar.shape[-1]} differs from the model's {logp.shape[-1]}"
        )
    # 0·log 0 = 0: mask instead of adding an epsilon (which would bias H* and KL).
    pos = pstar > 0
    log_pstar = torch.where(pos, pstar.clamp_min(1e-300).log(), torch.zeros_like(pstar))
    true_ent = -(pstar * log_pstar).sum(-1)
    cross = -(torch.where(pos, pstar * logp, torch.zeros_like(pstar))).sum(-1)
    kl = torch.where(pos, pstar * (log_pstar - logp), torch.zeros_like(pstar)).sum(-1)
    return kl.float(), true_ent.float(), cross.float()

"""Categorical entropy suite: per-token statistics of the head's predictive distribution."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from markovlens.analysis.results import EntropySuite, EntropySummary
from markovlens.analysis.stats import bootstrap_mean, bootstrap_position_curve


@dataclass
class TokenStats:
    """Per-token statistics for one batch, each [batch, positions] (positions = T − 1)."""

    nll: torch.Tensor
    entropy: torch.Tensor
    gini: torch.Tensor
    top1_hit: torch.Tensor
    top1_conf: torch.Tensor


def token_stats(logits: torch.Tensor, next_ids: torch.Tensor) -> TokenStats:
    """Statistics of ``p = softmax(logits)`` against the observed next tokens.

    ``logits`` [B, T, V] (any dtype; computed in fp32), ``next_ids`` [B, T].
    """
    logp = torch.log_softmax(logits.float(), dim=-1)
    p = logp.exp()
    nll = -logp.gather(-1, next_ids.unsqueeze(-1)).squeeze(-1)
    # p·log p with p = 0 contributes 0; exp underflow gives p = 0 exactly, and 0·(−inf) is nan.
    entropy = -(p * logp.clamp_min(torch.finfo(logp.dtype).min)).sum(-1)
    gini = 1.0 - (p * p).sum(-1)
    conf, top1 = p.max(dim=-1)
    return TokenStats(
        nll=nll, entropy=entropy, gini=gini, top1_hit=(top1 == next_ids).float(), top1_conf=conf
    )


def summarize_entropy(
    nll: np.ndarray,
    entropy: np.ndarray,
    gini: np.ndarray,
    top1_hit: np.ndarray,
    top1_conf: np.ndarray,
    bootstrap_samples: int,
    rng: np.random.Generator,
) -> EntropySuite:
    """Aggregates over [windows, positions] arrays: summary with intervals and position curves."""
    counts = np.full(nll.shape[0], nll.shape[1], dtype=np.float64)
    mean_nll = bootstrap_mean(nll.sum(1), counts, bootstrap_samples, rng)
    mean_ent = bootstrap_mean(entropy.sum(1), counts, bootstrap_samples, rng)
    gap = bootstrap_mean((nll - entropy).sum(1), counts, bootstrap_samples, rng)
    summary = EntropySummary(
        num_tokens=int(nll.size),
        mean_nll=mean_nll,
        perplexity=float(np.exp(mean_nll.estimate)),
        mean_entropy=mean_ent,
        calibration_gap=gap,
        mean_gini=float(gini.mean()),
        top1_accuracy=float(top1_hit.mean()),
        mean_top1_confidence=float(top1_conf.mean()),
    )
    return EntropySuite(
        summary=summary,
        nll_by_position=bootstrap_position_curve(nll, bootstrap_samples, rng),
        entropy_by_position=bootstrap_position_curve(entropy, bootstrap_samples, rng),
    )

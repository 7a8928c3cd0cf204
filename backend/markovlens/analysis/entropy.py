"""Categorical entropy suite: per-token statistics of the head's predictive distribution."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from markovlens.analysis.stats import bootstrap_mean, bootstrap_position_curve
from markovlens.schema.entropy import Calibration, CalibrationBin, EntropySuite, EntropySummary


@dataclass
class TokenStats:
    """Per-token statistics, each shaped like the logits without their last (vocabulary) axis."""

    nll: torch.Tensor
    entropy: torch.Tensor
    gini: torch.Tensor
    top1_hit: torch.Tensor
    top1_conf: torch.Tensor
    argmax: torch.Tensor


def token_stats(logits: torch.Tensor, next_ids: torch.Tensor) -> TokenStats:
    """Statistics of ``p = softmax(logits)`` against the observed next tokens.

    ``logits`` [..., V] (any dtype; computed in fp32), ``next_ids`` [...]. Written to make few
    passes over the |V| axis: this runs on every token of the corpus.
    """
    z = logits.float()
    lse = torch.logsumexp(z, dim=-1, keepdim=True)
    logp = z - lse
    nll = -logp.gather(-1, next_ids.unsqueeze(-1)).squeeze(-1)
    zmax, argmax = z.max(dim=-1)
    p = logp.exp()
    # p·log p with p = 0 contributes 0; a −inf logit gives 0·(−inf) = nan, so clamp (in place).
    logp.clamp_min_(torch.finfo(logp.dtype).min)
    entropy = -(p * logp).sum(-1)
    gini = 1.0 - torch.linalg.vector_norm(p, dim=-1).square()
    conf = (zmax - lse.squeeze(-1)).exp()
    return TokenStats(
        nll=nll,
        entropy=entropy,
        gini=gini,
        top1_hit=(argmax == next_ids).float(),
        top1_conf=conf,
        argmax=argmax,
    )


def entropy_of(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) of distributions on the last axis; 0·log 0 = 0."""
    return torch.special.entr(probs).sum(-1)


def equal_mass_bins(x: np.ndarray, y: np.ndarray, bins: int) -> list[CalibrationBin]:
    """Sort by ``x``, cut into ``bins`` groups of (nearly) equal count; mean x and y per group."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    order = np.argsort(x, kind="stable")
    out = []
    for idx in np.array_split(order, min(bins, max(1, len(order)))):
        if len(idx) == 0:
            continue
        out.append(
            CalibrationBin(mean_x=float(x[idx].mean()), mean_y=float(y[idx].mean()), count=len(idx))
        )
    return out


def expected_calibration_error(conf: np.ndarray, hit: np.ndarray, bins: int) -> Calibration:
    """ECE = Σ_b (n_b/n)·|acc_b − conf_b| over equal-mass bins of top-1 confidence."""
    groups = equal_mass_bins(conf, hit, bins)
    total = sum(g.count for g in groups)
    ece = sum(g.count / total * abs(g.mean_y - g.mean_x) for g in groups) if total else 0.0
    return Calibration(ece=float(ece), bins=groups)


def summarize_entropy(
    nll: np.ndarray,
    entropy: np.ndarray,
    gini: np.ndarray,
    top1_hit: np.ndarray,
    top1_conf: np.ndarray,
    bootstrap_samples: int,
    rng: np.random.Generator,
    *,
    ece_bins: int = 15,
    reliability_bins: int = 15,
    unigram_entropy: float | None = None,
) -> EntropySuite:
    """Aggregates over [windows, positions] arrays: summary with intervals, curves, calibration."""
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
        calibration=expected_calibration_error(top1_conf, top1_hit, ece_bins),
        entropy_reliability=equal_mass_bins(entropy, nll, reliability_bins),
        unigram_entropy=unigram_entropy,
    )

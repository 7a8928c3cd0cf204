"""The one model-free held-out marginal H(Y) of the service.

A unigram of the next token fitted on probe-train windows, its add-α smoothing chosen on
probe-val windows, evaluated on test: an upper estimate of H(Y) that depends on the corpus and
the split only, never on the model. The lens's predictive information, the surplus bounds, the
probes' bias initialisation and the lookahead information all use it.
(A plug-in add-½ unigram over a 50k vocabulary from 16k tokens is dominated by its
pseudo-counts and overstates H(Y) by nats.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALPHAS = (1e-4, 1e-3, 1e-2, 0.03, 0.1, 0.3, 1.0)


@dataclass(frozen=True)
class Marginal:
    """q(y) = (count(y) + α) / (n + α·|V|) over the full vocabulary."""

    counts: np.ndarray  # [V] int64 train counts
    alpha: float
    val_ce: float

    @property
    def vocab_size(self) -> int:
        return int(self.counts.shape[0])

    def log_prob(self, tokens: np.ndarray) -> np.ndarray:
        """log q(y) for each token (float64, same shape)."""
        tokens = np.asarray(tokens, dtype=np.int64)
        total = float(self.counts.sum()) + self.alpha * self.vocab_size
        return np.log((self.counts[tokens] + self.alpha) / total)

    def nll(self, tokens: np.ndarray) -> np.ndarray:
        return -self.log_prob(tokens)

    def probs_of(self, tokens: np.ndarray) -> np.ndarray:
        return np.exp(self.log_prob(tokens))

    def unseen_mass(self) -> float:
        """Total probability of tokens never seen in train."""
        unseen = int((self.counts == 0).sum())
        total = float(self.counts.sum()) + self.alpha * self.vocab_size
        return unseen * self.alpha / total


def fit_marginal(
    train_tokens: np.ndarray,
    val_tokens: np.ndarray,
    vocab_size: int,
    alphas: tuple[float, ...] = ALPHAS,
) -> Marginal:
    """Add-α unigram of ``train_tokens``; α minimises the cross-entropy on ``val_tokens``.

    Without validation tokens the middle α of the grid is used.
    """
    counts = np.bincount(np.asarray(train_tokens, dtype=np.int64).reshape(-1), minlength=vocab_size)
    val = np.asarray(val_tokens, dtype=np.int64).reshape(-1)
    best: Marginal | None = None
    for alpha in alphas:
        cand = Marginal(counts, alpha, float("nan"))
        ce = float(cand.nll(val).mean()) if val.size else float("nan")
        cand = Marginal(counts, alpha, ce)
        if best is None or (val.size and ce < best.val_ce):
            best = cand
    assert best is not None
    if not val.size:
        best = Marginal(counts, alphas[len(alphas) // 2], float("nan"))
    return best


def held_out_entropy(
    tokens_by_window: np.ndarray, window_split: np.ndarray, test_tokens: np.ndarray, vocab_size: int
) -> tuple[float, Marginal]:
    """H(Y) estimate: the marginal fitted on split-0 windows (α on split-1) → CE on ``test_tokens``.

    ``tokens_by_window`` [n_windows, T] next tokens; ``window_split`` [n_windows] 0/1/2.
    """
    train = tokens_by_window[window_split == 0]
    val = tokens_by_window[window_split == 1]
    marginal = fit_marginal(train, val, vocab_size)
    test = np.asarray(test_tokens, dtype=np.int64).reshape(-1)
    if not test.size:
        test = np.asarray(tokens_by_window[window_split == 2]).reshape(-1)
    return float(marginal.nll(test).mean()), marginal

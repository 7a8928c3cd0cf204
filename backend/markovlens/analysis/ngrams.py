"""Count-based n-gram predictors of y_{t+j} from y_t … y_{t+j−1} (no-state candidates).

Interpolated (Dirichlet-prior) smoothing: each order backs off to the one below,
``p_n(y | c) = (count(c, y) + β_n · p_{n−1}(y | c')) / (count(c) + β_n)``, with c' the context
without its oldest token, down to the held-out marginal. Each β_n is chosen on validation rows.
Counts live in sorted int64 keys: nothing of size |V|² (or |V| per row) is ever built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from markovlens.analysis.marginal import Marginal

BETAS = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


class _Counts:
    def __init__(self, keys: np.ndarray) -> None:
        self.keys, self.counts = np.unique(keys, return_counts=True)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        if not self.keys.size:
            return np.zeros(keys.shape, dtype=np.float64)
        idx = np.clip(np.searchsorted(self.keys, keys), 0, self.keys.size - 1)
        return np.where(self.keys[idx] == keys, self.counts[idx], 0).astype(np.float64)


def _key(tokens: np.ndarray, vocab: int) -> np.ndarray:
    """Mixed-radix int64 key of each row of ``tokens`` [n, m] (m ≤ 3 for |V| ≤ 2^21)."""
    key = np.zeros(tokens.shape[0], dtype=np.int64)
    for col in range(tokens.shape[1]):
        key = key * vocab + tokens[:, col].astype(np.int64)
    return key


@dataclass
class NGram:
    """An interpolated n-gram of order ``len(betas) + 1`` (contexts: the last tokens given)."""

    marginal: Marginal
    vocab: int
    joint: list[_Counts] = field(default_factory=list)  # per order n ≥ 2: (context, y)
    context: list[_Counts] = field(default_factory=list)  # per order n ≥ 2: context
    betas: list[float] = field(default_factory=list)

    def prob(self, ctx: np.ndarray, y: np.ndarray, order: int | None = None) -> np.ndarray:
        """p(y | ctx) with ``ctx`` [n, j] oldest first; ``order`` − 1 context tokens used."""
        order = len(self.betas) + 1 if order is None else order
        p = self.marginal.probs_of(y)
        for n in range(2, order + 1):
            c = ctx[:, ctx.shape[1] - (n - 1) :]
            joint = self.joint[n - 2].lookup(_key(np.column_stack([c, y]), self.vocab))
            total = self.context[n - 2].lookup(_key(c, self.vocab))
            beta = self.betas[n - 2]
            p = (joint + beta * p) / (total + beta)
        return p

    def dense(self, ctx: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """p(token | ctx) for every row of ``ctx`` [n, j] and every id in ``tokens`` [m]:
        an [n, m] array (the caller bounds n·m).

        The same recursion as ``prob``, one order at a time on whole rows: the marginal row,
        then per order p ← (counts(c, ·) + β·p) / (count(c) + β), where counts(c, ·) is the
        few non-zero (c, y) entries of the sorted joint keys (a key range per context).
        Rows share few distinct contexts, so it runs on those and gathers back.
        """
        uniq, inverse = np.unique(ctx, axis=0, return_inverse=True)
        tokens = np.asarray(tokens, dtype=np.int64)
        column = np.full(self.vocab, -1, dtype=np.int64)
        column[tokens] = np.arange(tokens.size)
        p = np.broadcast_to(self.marginal.probs_of(tokens), (uniq.shape[0], tokens.size)).copy()
        for n in range(2, len(self.betas) + 2):
            c = uniq[:, uniq.shape[1] - (n - 1) :]
            ckey = _key(c, self.vocab)
            beta = self.betas[n - 2]
            total = self.context[n - 2].lookup(ckey)
            p *= beta
            joint = self.joint[n - 2]
            lo = np.searchsorted(joint.keys, ckey * self.vocab)
            hi = np.searchsorted(joint.keys, (ckey + 1) * self.vocab)
            rows = np.repeat(np.arange(ckey.size), hi - lo)
            # Every key index in the ranges [lo, hi), vectorised: one arange and a per-range shift.
            idx = np.arange(int((hi - lo).sum()), dtype=np.int64)
            idx += np.repeat(lo - np.concatenate([[0], np.cumsum(hi - lo)[:-1]]), hi - lo)
            cols = column[joint.keys[idx] % self.vocab]
            keep = cols >= 0
            np.add.at(p, (rows[keep], cols[keep]), joint.counts[idx[keep]].astype(np.float64))
            p /= (total + beta)[:, None]
        return p[inverse.reshape(-1)]

    def nll(self, ctx: np.ndarray, y: np.ndarray) -> np.ndarray:
        return -np.log(np.maximum(self.prob(ctx, y), 1e-300))


def fit_ngram(
    ctx_train: np.ndarray,
    y_train: np.ndarray,
    ctx_val: np.ndarray,
    y_val: np.ndarray,
    marginal: Marginal,
) -> NGram:
    """Fit orders 2 … j+1 on ``ctx_train`` [n, j] → ``y_train``; each β on validation."""
    vocab = marginal.vocab_size
    model = NGram(marginal, vocab)
    j = ctx_train.shape[1]
    for n in range(2, j + 2):
        c_tr = ctx_train[:, j - (n - 1) :]
        model.joint.append(_Counts(_key(np.column_stack([c_tr, y_train]), vocab)))
        model.context.append(_Counts(_key(c_tr, vocab)))
        best_beta, best_ce = BETAS[len(BETAS) // 2], float("inf")
        if y_val.size:
            # The lower orders are fixed by now: look the counts up once, try every β.
            lower = model.prob(ctx_val, y_val, n - 1)
            c_va = ctx_val[:, j - (n - 1) :]
            joint = model.joint[-1].lookup(_key(np.column_stack([c_va, y_val]), vocab))
            total = model.context[-1].lookup(_key(c_va, vocab))
            for beta in BETAS:
                p = (joint + beta * lower) / (total + beta)
                ce = float(-np.log(np.maximum(p, 1e-300)).mean())
                if ce < best_ce:
                    best_beta, best_ce = beta, ce
        model.betas.append(best_beta)
    return model

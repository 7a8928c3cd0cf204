"""The rows the surplus probes train and test on, and the cross-fitting folds over windows.

A row is one position t of one window with the probe layer's state h_t, the future tokens
y_t … y_{t+K−1}, the model's greedy token and its own NLL at t … t+K−1. From a capture that
kept the probe layer at every position (``WindowData``) every usable position is a row; from
sampled contexts alone (hand-built tests) the N contexts are the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from markovlens.analysis.contexts import SampledContexts


@dataclass
class WindowData:
    """What the capture kept for the surplus suite beyond the N sampled contexts."""

    windows: torch.Tensor  # [n_windows, T] token ids
    states: torch.Tensor  # [n_windows, T, d] the probe layer at every position
    nll: np.ndarray | None = None  # [n_windows, T−1]: the model's own −log p(x_{p+1} | x_≤p)
    argmax: np.ndarray | None = None  # [n_windows, T−1]: its greedy token at p
    min_position: int = 0


@dataclass
class Rows:
    window: np.ndarray  # [n] int64
    position: np.ndarray  # [n] int64
    state: torch.Tensor  # [n, d] float32
    future: torch.Tensor  # [n, K] int64: y_t … y_{t+K−1}
    greedy: np.ndarray  # [n, K] int64, −1 unknown
    model_nll: np.ndarray  # [n, K] float64, NaN unknown
    all_positions: bool

    def __len__(self) -> int:
        return int(self.window.shape[0])

    def index_of(self, window: np.ndarray, position: np.ndarray) -> np.ndarray:
        """Row index of each (window, position); −1 where there is none."""
        span = int(max(self.position.max(initial=0), position.max(initial=0))) + 1
        keys = self.window * span + self.position
        order = np.argsort(keys)
        query = window.astype(np.int64) * span + position.astype(np.int64)
        idx = np.clip(np.searchsorted(keys[order], query), 0, max(0, len(keys) - 1))
        found = len(keys) > 0
        hit = found & (keys[order][idx] == query) if found else np.zeros(len(query), bool)
        return np.where(hit, order[idx], -1)


def rows_from_windows(data: WindowData, max_k: int) -> Rows:
    """Every position t with min_position ≤ t ≤ T−1−K of every window."""
    n_w, length = data.windows.shape
    positions = np.arange(data.min_position, length - max_k)
    if positions.size == 0:
        raise ValueError(f"windows of {length} tokens leave no position for K = {max_k}")
    window = np.repeat(np.arange(n_w), positions.size)
    position = np.tile(positions, n_w)
    w_t, p_t = torch.from_numpy(window), torch.from_numpy(position)
    offsets = torch.arange(max_k)
    future = data.windows[w_t[:, None], p_t[:, None] + 1 + offsets].long()
    cols = position[:, None] + np.arange(max_k)
    greedy = (
        data.argmax[window[:, None], cols].astype(np.int64)
        if data.argmax is not None
        else np.full((window.size, max_k), -1, dtype=np.int64)
    )
    nll = (
        data.nll[window[:, None], cols].astype(np.float64)
        if data.nll is not None
        else np.full((window.size, max_k), np.nan)
    )
    state = data.states[w_t, p_t].float()
    return Rows(window, position, state, future, greedy, nll, all_positions=True)


def rows_from_contexts(contexts: SampledContexts, layer: int, max_k: int) -> Rows:
    n = contexts.num_contexts
    return Rows(
        window=contexts.window_index.numpy().astype(np.int64),
        position=contexts.position.numpy().astype(np.int64),
        state=contexts.hidden[layer].float(),
        future=contexts.future_tokens[:, :max_k].long(),
        greedy=contexts.greedy_future[:, :max_k].numpy().astype(np.int64),
        model_nll=np.full((n, max_k), np.nan),
        all_positions=False,
    )


@dataclass
class Fold:
    index: int
    train: np.ndarray  # window ids
    val: np.ndarray
    test: np.ndarray


def window_folds(windows: np.ndarray, folds: int) -> list[Fold]:
    """Contiguous blocks of windows: block f is test, block f+1 (cyclic) val, the rest train.

    Adjacent windows are adjacent slices of the same documents, so a block keeps neighbours
    on one side of the split. Every window is test exactly once.
    """
    ids = np.unique(windows)
    if ids.size < 3:
        raise ValueError(f"{ids.size} window(s): cross-fitting needs at least 3")
    n_folds = min(folds, int(ids.size))
    blocks = np.array_split(ids, n_folds)
    out = []
    for f in range(n_folds):
        val_block = (f + 1) % n_folds
        train = np.concatenate([b for i, b in enumerate(blocks) if i not in (f, val_block)])
        out.append(Fold(f, train, blocks[val_block], blocks[f]))
    return out


class ClusterBootstrap:
    """Resamples windows with replacement; one set of weights shared by every quantity."""

    def __init__(self, windows: np.ndarray, samples: int, rng: np.random.Generator) -> None:
        self.ids = np.unique(windows)
        n = self.ids.size
        idx = rng.integers(0, n, size=(samples, n)) if n >= 2 else np.zeros((1, n), dtype=int)
        self.weights = np.stack([np.bincount(row, minlength=n) for row in idx]).astype(float)

    @property
    def num_windows(self) -> int:
        return int(self.ids.size)

    def per_window(self, windows: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-window sums and counts of finite ``values`` (rows of ``windows``)."""
        ok = np.isfinite(values)
        pos = np.searchsorted(self.ids, windows[ok])
        n = self.ids.size
        return (
            np.bincount(pos, values[ok].astype(float), minlength=n),
            np.bincount(pos, minlength=n).astype(float),
        )

    def mean(self, sums: np.ndarray, counts: np.ndarray) -> tuple[float, np.ndarray]:
        """Σsums/Σcounts and its replicates [B]."""
        est = float(sums.sum() / max(counts.sum(), 1e-12))
        reps = (self.weights @ sums) / np.maximum(self.weights @ counts, 1e-12)
        return est, reps

"""The context plan: which (window, position) contexts the capture pass records.

Contexts are spread over the windows as evenly as possible, and windows are split into
probe-train / val / test, so the probes never see a test window's neighbouring positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from markovlens.analysis.splits import SplitScheme, window_splits


@dataclass
class ContextPlan:
    """Which contexts to capture: sorted (window, position) pairs with a probe split by window."""

    window_index: torch.Tensor  # [N] int64
    position: torch.Tensor  # [N] int64
    split: torch.Tensor  # [N] int8: 0 train, 1 val, 2 test
    horizon: int

    @property
    def num_contexts(self) -> int:
        return int(self.window_index.shape[0])


def sample_contexts(
    num_windows: int,
    window_len: int,
    num_contexts: int,
    *,
    min_position: int,
    horizon: int,
    seed: int,
    split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    split: SplitScheme = "blocks",
) -> ContextPlan:
    """Spread ``num_contexts`` over windows as evenly as possible, positions without replacement.

    Positions t satisfy ``min_position ≤ t`` and ``t + horizon ≤ window_len − 1`` so that
    y_t … y_{t+horizon−1} all exist. Windows are split into probe-train / val / test, as
    contiguous blocks of windows (``split="blocks"``) or one by one (``"random"``); the
    contexts themselves do not depend on the scheme.
    """
    first, available = _usable_positions(
        num_windows, window_len, num_contexts, min_position=min_position, horizon=horizon
    )
    rng = np.random.default_rng(seed)
    window_index, position = _spread(num_windows, num_contexts, first, available, rng)
    # Split by window so probes never see a test window's neighbouring positions; by blocks
    # of windows so few test windows have a neighbour (same document) in train.
    window_split = window_splits(
        num_windows, split_fractions[0], split_fractions[1], rng, scheme=split
    )
    return ContextPlan(
        window_index=torch.from_numpy(window_index),
        position=torch.from_numpy(position),
        split=torch.from_numpy(window_split[window_index]),
        horizon=horizon,
    )


def _usable_positions(
    num_windows: int, window_len: int, num_contexts: int, *, min_position: int, horizon: int
) -> tuple[int, int]:
    """(first usable position, usable positions per window); a plan that cannot fit raises."""
    if num_windows < 3:
        raise ValueError(
            f"the corpus has {num_windows} window(s); at least 3 are needed for the "
            "probe-train / probe-val / test split (raise max_tokens or lower window_len)"
        )
    first, last = min_position, window_len - 1 - horizon
    available = last - first + 1
    if available <= 0:
        raise ValueError(
            f"window_len={window_len} leaves no context position: need window_len > "
            f"min_position + horizon (= {min_position + horizon})"
        )
    capacity = num_windows * available
    if num_contexts > capacity:
        raise ValueError(
            f"n_contexts={num_contexts} is larger than the corpus allows: {num_windows} windows × "
            f"{available} usable positions = {capacity} contexts. Lower n_contexts or raise "
            "max_tokens."
        )
    return first, available


def _spread(
    num_windows: int, num_contexts: int, first: int, available: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(window, position) int64 arrays: per-window quotas differing by at most one (the extra
    contexts go to random windows), positions drawn without replacement and sorted."""
    quota = np.full(num_windows, num_contexts // num_windows, dtype=np.int64)
    quota[rng.permutation(num_windows)[: num_contexts % num_windows]] += 1
    windows, positions = [], []
    for w in range(num_windows):
        if quota[w] == 0:
            continue
        pos = np.sort(rng.choice(available, size=int(quota[w]), replace=False)) + first
        windows.append(np.full(len(pos), w, dtype=np.int64))
        positions.append(pos.astype(np.int64))
    return np.concatenate(windows), np.concatenate(positions)

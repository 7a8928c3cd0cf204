"""Seeded splits of sampled contexts by window (never by position: neighbours leak)."""

from __future__ import annotations

import numpy as np
import torch


def split_by_window(
    window_index: torch.Tensor, train: float, val: float, rng: np.random.Generator
) -> dict[str, torch.Tensor]:
    """Boolean masks over contexts for train / val / test; whole windows go to one split.

    With three or more windows every split gets at least one.
    """
    windows = np.unique(window_index.numpy())
    rng.shuffle(windows)
    n = len(windows)
    if n >= 3:
        n_train = min(max(1, round(train * n)), n - 2)
        n_val = min(max(1, round(val * n)), n - n_train - 1)
    else:
        n_train, n_val = max(1, n - 1), 0
    groups = {
        "train": windows[:n_train],
        "val": windows[n_train : n_train + n_val],
        "test": windows[n_train + n_val :],
    }
    wi = window_index.numpy()
    return {name: torch.from_numpy(np.isin(wi, ids)) for name, ids in groups.items()}

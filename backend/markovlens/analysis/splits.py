"""Seeded splits of sampled contexts by window (never by position: neighbours leak)."""

from __future__ import annotations

import numpy as np
import torch

from markovlens.analysis.contexts import SampledContexts


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


def context_splits(
    contexts: SampledContexts, train: float, val: float, rng: np.random.Generator
) -> dict[str, torch.Tensor]:
    """The capture's own by-window split when it came with one, else a fresh seeded one.

    Sharing the capture's split keeps lens, surplus and spectral on the same test windows.
    """
    split = contexts.split
    if split.numel() == contexts.num_contexts and contexts.num_contexts > 0:
        masks = {name: contexts.split_mask(name) for name in ("train", "val", "test")}
        if all(bool(m.any()) for m in masks.values()):
            return masks
    return split_by_window(contexts.window_index, train, val, rng)

"""Train / val / test splits of sampled contexts by window (never by position: neighbours leak).

Text windows are adjacent slices of the same documents, so a window's neighbours share its
document. ``blocks`` (the default) puts runs of consecutive windows in one split: only the
windows at a block's edge have a neighbour in another split. ``random`` assigns each window
on its own (the old scheme: about half of all adjacent pairs straddle two splits).
See docs/methods.md#splits.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from markovlens.analysis.contexts import SampledContexts

SplitScheme = Literal["blocks", "random"]
MAX_BLOCKS = 10  # several blocks per split spread each over the corpus; few edges leak


def split_counts(units: int, train: float, val: float) -> tuple[int, int, int]:
    """(train, val, test) counts of ``units`` (windows or blocks); each ≥ 1 from 3 units."""
    if units < 3:
        return max(1, units - 1), 0, units - max(1, units - 1)
    n_train = min(max(1, round(train * units)), units - 2)
    n_val = min(max(1, round(val * units)), units - n_train - 1)
    return n_train, n_val, units - n_train - n_val


def block_edges(num_windows: int) -> np.ndarray:
    """Start index of each contiguous block (near-equal sizes, min(W, MAX_BLOCKS) blocks)."""
    blocks = min(num_windows, MAX_BLOCKS)
    return np.array([part[0] for part in np.array_split(np.arange(num_windows), blocks)])


def window_splits(
    num_windows: int,
    train: float,
    val: float,
    rng: np.random.Generator,
    scheme: SplitScheme = "blocks",
) -> np.ndarray:
    """Split code per window, int8 [num_windows]: 0 train, 1 val, 2 test.

    ``blocks``: the windows in corpus order are cut into min(W, 10) contiguous blocks of
    near-equal size and whole blocks go to the splits (seeded shuffle of the blocks), so each
    split draws from several stretches of the corpus. ``random``: whole windows, shuffled.
    """
    if scheme == "blocks":
        starts = block_edges(num_windows)
        n_train, n_val, _ = split_counts(len(starts), train, val)
        order = rng.permutation(len(starts))
        block_code = np.full(len(starts), 2, dtype=np.int8)
        block_code[order[:n_train]] = 0
        block_code[order[n_train : n_train + n_val]] = 1
        block_of = np.searchsorted(starts, np.arange(num_windows), side="right") - 1
        return block_code[block_of]
    order = rng.permutation(num_windows)
    n_train, n_val, _ = split_counts(num_windows, train, val)
    code = np.full(num_windows, 2, dtype=np.int8)
    code[order[:n_train]] = 0
    code[order[n_train : n_train + n_val]] = 1
    return code


def split_by_window(
    window_index: torch.Tensor,
    train: float,
    val: float,
    rng: np.random.Generator,
    scheme: SplitScheme = "blocks",
) -> dict[str, torch.Tensor]:
    """Boolean masks over contexts for train / val / test; whole windows go to one split.

    Windows are ranked by index (corpus order); with three or more, every split gets one.
    """
    windows, rank = np.unique(window_index.numpy(), return_inverse=True)
    code = window_splits(len(windows), train, val, rng, scheme)[rank]
    return {name: torch.from_numpy(code == i) for i, name in enumerate(("train", "val", "test"))}


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

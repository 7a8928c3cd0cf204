"""Train / val / test splits by window: contiguous blocks by default, random selectable."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from markovlens.analysis.capture import sample_contexts
from markovlens.analysis.splits import block_edges, split_by_window, window_splits
from markovlens.schema.config import AnalysisConfig, preset_config


def window_codes(num_windows: int, seed: int, **kwargs: object) -> np.ndarray:
    """Split code per window from a real context plan (every window gets contexts)."""
    plan = sample_contexts(
        num_windows, 64, 4 * num_windows, min_position=4, horizon=2, seed=seed, **kwargs
    )
    w, split = plan.window_index.numpy(), plan.split.numpy()
    codes = np.array([split[w == i][0] for i in range(num_windows)])
    for i in range(num_windows):
        assert len(set(split[w == i].tolist())) == 1  # a window sits in one split
    return codes


@pytest.mark.parametrize("num_windows", [3, 7, 32, 64, 257])
def test_block_splits_change_only_at_block_edges(num_windows: int) -> None:
    """Adjacent windows (adjacent slices of one document) land in the same split except at
    the edges of the ≤ 10 contiguous blocks; every split is used; the fractions hold to
    within one block."""
    edges = set(block_edges(num_windows).tolist())
    for seed in range(4):
        codes = window_codes(num_windows, seed)
        changes = {i for i in range(1, num_windows) if codes[i] != codes[i - 1]}
        assert changes <= edges
        assert len(changes) <= 9
        assert set(codes.tolist()) == {0, 1, 2}
        block = int(np.ceil(num_windows / min(num_windows, 10)))
        fractions = np.bincount(codes, minlength=3)
        assert abs(fractions[0] - 0.6 * num_windows) <= block + 1
        assert abs(fractions[2] - 0.2 * num_windows) <= block + 1


def test_random_splits_are_still_selectable_and_mix_neighbours() -> None:
    """The old scheme: windows one by one, so neighbours straddle splits often; the block
    check above rejects it (a broken variant of the check)."""
    codes = window_codes(64, 0, split="random")
    changes = [i for i in range(1, 64) if codes[i] != codes[i - 1]]
    assert len(changes) > 15
    assert not set(changes) <= set(block_edges(64).tolist())
    assert set(codes.tolist()) == {0, 1, 2}


def test_the_split_scheme_leaves_the_contexts_alone() -> None:
    blocks = sample_contexts(12, 64, 100, min_position=4, horizon=2, seed=3)
    rand = sample_contexts(12, 64, 100, min_position=4, horizon=2, seed=3, split="random")
    assert torch.equal(blocks.window_index, rand.window_index)
    assert torch.equal(blocks.position, rand.position)
    assert not torch.equal(blocks.split, rand.split)


def test_blocks_are_the_default_and_random_validates() -> None:
    assert AnalysisConfig().split == "blocks"
    assert preset_config("quick").split == "blocks"
    assert preset_config("quick", split="random").split == "random"
    with pytest.raises(ValueError):
        AnalysisConfig(split="shuffled")  # type: ignore[arg-type]


def test_fallback_split_by_window_uses_blocks_over_sorted_windows() -> None:
    """The spectral suite's own split (contexts without one) follows the same scheme."""
    window_index = torch.arange(40).repeat_interleave(3)
    masks = split_by_window(window_index, 0.6, 0.2, np.random.default_rng(0))
    code = torch.zeros(120, dtype=torch.long)
    code[masks["val"]], code[masks["test"]] = 1, 2
    per_window = code[::3].numpy()
    changes = {i for i in range(1, 40) if per_window[i] != per_window[i - 1]}
    assert changes <= set(block_edges(40).tolist())
    direct = window_splits(40, 0.6, 0.2, np.random.default_rng(0))
    np.testing.assert_array_equal(direct, per_window)

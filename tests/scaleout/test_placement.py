"""Multi-GPU placement decisions (pure sizes; no GPU needed)."""

from __future__ import annotations

import pytest
from markovlens.models.placement import GIB, PlacementError, placement_kwargs


def test_one_gpu_or_cpu_means_no_device_map() -> None:
    assert placement_kwargs(10 * GIB, 8 * GIB, [24 * GIB]) == {}
    assert placement_kwargs(100 * GIB, 80 * GIB, [24 * GIB] * 4, device="cpu") == {}
    assert placement_kwargs(100 * GIB, 80 * GIB, [24 * GIB] * 4, device="cuda:1") == {}


def test_fits_one_gpu_of_several_stays_on_one() -> None:
    assert placement_kwargs(20 * GIB, 15 * GIB, [24 * GIB, 24 * GIB]) == {}


def test_larger_than_one_gpu_is_spread_with_caps() -> None:
    kwargs = placement_kwargs(40 * GIB, 30 * GIB, [24 * GIB, 24 * GIB])
    assert kwargs["device_map"] == "auto"
    assert kwargs["max_memory"] == {0: int(24 * GIB * 0.8), 1: int(24 * GIB * 0.8)}


def test_too_big_for_all_gpus_is_refused() -> None:
    with pytest.raises(PlacementError, match=r"40\.0 GiB\) do not fit in 2 GPUs of 48\.0 GiB"):
        placement_kwargs(60 * GIB, 40 * GIB, [24 * GIB, 24 * GIB])

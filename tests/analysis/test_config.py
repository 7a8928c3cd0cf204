"""Presets and validation: every knob overridable, bad values rejected with a readable message."""

from __future__ import annotations

import pytest
from markovlens.schema.config import AnalysisConfig, preset_config, select_layers
from pydantic import ValidationError


@pytest.mark.parametrize("preset", ["quick", "standard", "full"])
def test_presets_are_valid_and_ordered(preset: str) -> None:
    cfg = preset_config(preset)  # type: ignore[arg-type]
    assert cfg.preset == preset
    assert cfg.n_contexts <= cfg.max_tokens


def test_preset_sizes() -> None:
    quick, standard, full = (preset_config(p) for p in ("quick", "standard", "full"))
    # Alignment needs N ≥ 4·d (else whitened H spans almost everything and A → 1): every preset
    # must allow it for the bundled SmolLM2 (d = 576), and fit the tokens it reads.
    for cfg in (quick, standard, full):
        assert cfg.n_contexts >= 4 * 576
        assert cfg.n_contexts <= cfg.max_tokens
    assert quick.max_tokens < standard.max_tokens < full.max_tokens
    assert full.max_layers is None
    assert quick.surplus.max_k == 3 and full.surplus.max_k == 5


def test_nested_overrides_merge_into_the_preset() -> None:
    cfg = preset_config("quick", surplus={"max_k": 2}, lens={"context_chunk": 64}, seed=7)
    assert cfg.surplus.max_k == 2
    assert cfg.surplus.frozen_max_rows == 1024  # the preset's value survives the partial override
    assert cfg.lens.context_chunk == 64 and cfg.lens.fidelity_contexts == 32
    assert cfg.seed == 7 and cfg.horizon == 2


def test_config_round_trips_through_json() -> None:
    cfg = preset_config("standard", layers=[0, 5, 10])
    assert AnalysisConfig.model_validate_json(cfg.model_dump_json()) == cfg


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"n_contexts": 5000, "max_tokens": 4096}, "larger than the corpus allows"),
        ({"surplus": {"max_k": 7}}, "max_k"),
        ({"surplus": {"max_k": 1}}, "max_k"),
        ({"window_len": 10, "min_position": 8}, "too short"),
        ({"max_tokens": 256, "window_len": 128}, "fewer than 3 windows"),
        ({"train_fraction": 0.7, "val_fraction": 0.3}, "test split"),
        ({"layers": []}, "at least one layer"),
        ({"layers": [-1, 3]}, "≥ 0"),
        ({"nonsense_knob": 1}, "Extra inputs are not permitted"),
        ({"lens": {"fidelity_tolerance": 0}}, "greater than 0"),
        ({"bootstrap_samples": 1}, "greater than or equal to 50"),
    ],
)
def test_bad_values_are_rejected_readably(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        preset_config("quick", **overrides)


def test_unknown_preset() -> None:
    with pytest.raises(ValueError, match="unknown preset"):
        preset_config("huge")  # type: ignore[arg-type]


def test_layer_selection() -> None:
    assert select_layers(preset_config("quick", max_layers=4), 30) == [0, 10, 20, 30]
    assert select_layers(preset_config("quick", max_layers=50), 2) == [0, 1, 2]
    assert select_layers(preset_config("full"), 3) == [0, 1, 2, 3]
    assert select_layers(preset_config("quick", layers=[3, 1]), 6) == [1, 3, 6]  # L always
    with pytest.raises(ValueError, match="out of range"):
        select_layers(preset_config("quick", layers=[31]), 30)

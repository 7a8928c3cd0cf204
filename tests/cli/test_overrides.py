"""``--set`` parsing: plain keys, JSON values and dotted section paths."""

from __future__ import annotations

import pytest
from markovlens.cli import parse_overrides
from markovlens.schema.config import preset_config


def test_dotted_keys_set_nested_knobs_and_merge_with_the_preset() -> None:
    overrides = parse_overrides(
        ["surplus.max_k=2", "surplus.folds=4", "seed=3", "lens.enabled=false"]
    )
    assert overrides == {"surplus": {"max_k": 2, "folds": 4}, "seed": 3, "lens": {"enabled": False}}
    config = preset_config("quick", **overrides)
    # The dotted knobs landed in their sections; the preset's other surplus knobs are kept.
    assert (config.surplus.max_k, config.surplus.folds, config.seed) == (2, 4, 3)
    assert config.lens.enabled is False
    assert config.surplus.max_steps == preset_config("quick").surplus.max_steps


def test_a_dotted_key_and_a_json_section_merge() -> None:
    assert parse_overrides(['surplus={"max_k": 2}', "surplus.folds=4"]) == {
        "surplus": {"max_k": 2, "folds": 4}
    }


@pytest.mark.parametrize("pair", ["x", "=3", "surplus.=2", ".max_k=2"])
def test_malformed_pairs_are_refused(pair: str) -> None:
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides([pair])


def test_a_section_path_through_a_plain_value_is_refused() -> None:
    with pytest.raises(ValueError, match="already set to a value"):
        parse_overrides(["seed=3", "seed.x=1"])

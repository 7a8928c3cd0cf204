"""One split setting (AnalysisConfig's train_fraction, val_fraction, split) for every suite."""

from __future__ import annotations

import pytest
from markovlens.schema.config import AnalysisConfig, preset_config
from markovlens.schema.spectral import SpectralConfig
from markovlens.schema.surplus import SurplusConfig


def test_suite_configs_have_no_split_of_their_own() -> None:
    for model in (SpectralConfig, SurplusConfig):
        assert not {"train_fraction", "val_fraction", "split"} & set(model.model_fields)
    assert {"train_fraction", "val_fraction", "split"} <= set(AnalysisConfig.model_fields)


def test_stored_configs_with_the_retired_suite_fractions_still_load() -> None:
    stored = preset_config("quick").model_dump(mode="json")
    stored["spectral"].update(train_fraction=0.6, val_fraction=0.2)
    stored["surplus"].update(train_fraction=0.6, val_fraction=0.2)
    config = AnalysisConfig.model_validate(stored)
    assert config.train_fraction == 0.6 and config.spectral.rank == stored["spectral"]["rank"]
    assert "train_fraction" not in config.model_dump()["spectral"]


@pytest.mark.parametrize("suite", ["spectral", "surplus"])
def test_a_submission_naming_a_suite_fraction_is_refused_by_name(suite: str) -> None:
    with pytest.raises(ValueError, match=rf"{suite}\.val_fraction .*one split setting"):
        preset_config("quick", **{suite: {"val_fraction": 0.3}})
    config = preset_config("quick", train_fraction=0.5, val_fraction=0.25, split="random")
    assert (config.train_fraction, config.val_fraction, config.split) == (0.5, 0.25, "random")

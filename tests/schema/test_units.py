"""Every number of the result format says its unit, good direction and meaning."""

from __future__ import annotations

import pytest
from markovlens.schema.common import Interval, metric
from markovlens.schema.headline import Headline
from markovlens.schema.result import AnalysisResult
from pydantic import BaseModel, ValidationError

from tests.schema.units import problems


@pytest.mark.parametrize("model", [AnalysisResult, Headline])
def test_every_numeric_leaf_has_a_unit(model: type[BaseModel]) -> None:
    schema = model.model_json_schema()
    assert problems(schema, schema.get("$defs", {})) == []


def test_the_walker_finds_a_number_without_a_unit() -> None:
    class Bare(BaseModel):
        bare: Interval
        measured: Interval = metric("nats", None, "An interval with its unit.")
        count: int

    schema = Bare.model_json_schema()
    found = problems(schema, schema["$defs"])
    assert found == [
        "bare.estimate: no x-unit",
        "bare.low: no x-unit",
        "bare.high: no x-unit",
        "count: no x-unit",
    ]


def test_metric_fields_carry_unit_direction_and_help() -> None:
    class Example(BaseModel):
        nll: float = metric("nats", "lower", "Mean NLL.")
        rate: float = metric("probability", None, "A rate.", default=0.5, ge=0.0, le=1.0)

    props = Example.model_json_schema()["properties"]
    assert props["nll"]["x-unit"] == "nats" and props["nll"]["x-direction"] == "lower"
    assert props["nll"]["description"] == "Mean NLL."
    assert props["rate"]["x-unit"] == "probability" and "x-direction" not in props["rate"]
    assert props["rate"]["maximum"] == 1.0 and Example(nll=1.0).rate == 0.5
    with pytest.raises(ValidationError):
        Example(nll=1.0, rate=2.0)


def test_units_of_a_few_fields() -> None:
    defs = AnalysisResult.model_json_schema()["$defs"]
    assert defs["EntropySummary"]["properties"]["mean_nll"]["x-unit"] == "nats"
    assert defs["EntropySummary"]["properties"]["mean_nll"]["x-direction"] == "lower"
    assert defs["EntropySummary"]["properties"]["calibration_gap"]["x-direction"] == "zero"
    assert defs["SurplusSuite"]["properties"]["surplus"]["x-unit"] == "nats"
    assert defs["Alignment"]["properties"]["lift"]["x-unit"] == "ratio"
    assert defs["PositionCurve"]["properties"]["positions"]["x-unit"] == "index"
    assert defs["Provenance"]["properties"]["peak_memory_bytes"]["x-unit"] == "bytes"
    headline = Headline.model_json_schema()["properties"]
    assert headline["ece"]["x-unit"] == "probability" and headline["ece"]["x-direction"] == "lower"
    assert headline["surplus_k2_verdict"]["anyOf"][0]["enum"] == [
        "detected",
        "not detected",
        "insufficient data",
    ]

"""The verdict of Surplus_K is one rule (schema/verdicts.py) that every reader uses."""

from __future__ import annotations

from markovlens.schema.common import Interval
from markovlens.schema.headline import headline
from markovlens.schema.surplus import SurplusBounds, SurplusSuite
from markovlens.schema.verdicts import read_verdict, verdict_of, with_verdicts


def _iv(low: float) -> dict[str, float]:
    return {"estimate": low + 0.1, "low": low, "high": low + 0.2}


def test_the_rule() -> None:
    assert verdict_of(0.01, 40) == "detected"
    assert verdict_of(0.0, 40) == "not detected"  # an interval touching 0 does not clear it
    assert verdict_of(-0.1, 40) == "not detected"
    assert verdict_of(0.5, 19) == "insufficient data"  # below min_windows decides nothing
    assert verdict_of(0.5, 5, min_windows=4) == "detected"
    assert verdict_of(0.5, None) == "detected"  # older results: no window count


def test_read_verdict_prefers_the_stored_value_then_the_flag_then_the_interval() -> None:
    stored = {"surplus": {"2": _iv(0.2)}, "verdict": {"2": "insufficient data"}}
    assert read_verdict(stored, 2) == "insufficient data"
    flagged = {"surplus": {"2": _iv(0.2)}, "detected": {"2": False}}
    assert read_verdict(flagged, 2) == "not detected"
    assert read_verdict({"surplus": {"2": _iv(0.2)}}, 2) == "detected"
    assert read_verdict({"surplus": {"2": _iv(-0.2)}}, 2) == "not detected"
    assert read_verdict({"surplus": {"2": {"low": float("nan")}}}, 2) is None
    assert read_verdict({"surplus": {}}, 2) is None and read_verdict(None, 2) is None


def test_read_verdict_reads_a_suite_model_like_its_json() -> None:
    suite = SurplusSuite(
        max_k=3,
        layer=2,
        num_contexts={"test": 10},
        num_windows={"test": 4},
        terms={},
        surplus={2: Interval(**_iv(0.2)), 3: Interval(**_iv(-0.1))},
        verdict={2: "insufficient data", 3: "not detected"},
        bounds={2: SurplusBounds(high=1.0, trivial_high=2.0)},
    )
    document = suite.model_dump(mode="json")
    for k in (2, 3):
        assert read_verdict(suite, k) == read_verdict(document, k) == suite.verdict[k]
    assert headline({"surplus": document}).surplus_k2_verdict == "insufficient data"


def test_served_results_carry_a_verdict_for_every_k() -> None:
    older = {"entropy": {}, "surplus": {"surplus": {"2": _iv(0.2), "3": _iv(-0.1)}}}
    served = with_verdicts(older)
    assert served["surplus"]["verdict"] == {"2": "detected", "3": "not detected"}
    assert "verdict" not in older["surplus"]  # the stored document is not changed
    current = {"surplus": {"surplus": {"2": _iv(0.2)}, "verdict": {"2": "insufficient data"}}}
    assert with_verdicts(current) is current
    assert with_verdicts({"entropy": {}}) == {"entropy": {}}

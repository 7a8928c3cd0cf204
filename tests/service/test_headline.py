"""Headline extraction from stored AnalysisResult payloads."""

from __future__ import annotations

from markovlens.schema.headline import Headline, headline


def _interval(x: float) -> dict[str, float]:
    return {"estimate": x, "low": x - 0.1, "high": x + 0.1}


def test_entropy_only_payload_gives_none_for_missing_sections() -> None:
    payload = {
        "entropy": {
            "summary": {
                "mean_nll": _interval(3.0),
                "perplexity": 20.0855,
                "mean_entropy": _interval(2.5),
                "calibration_gap": _interval(0.5),
            }
        }
    }
    h = headline(payload)
    assert (h.mean_nll, h.perplexity, h.mean_entropy, h.calibration_gap) == (3.0, 20.0855, 2.5, 0.5)
    assert h.surplus_k2 is None and h.alignment_lift_last is None
    assert h.effective_rank_last is None


def test_surplus_and_spectral_sections_last_layer_data_side() -> None:
    def align(layer: int, kernel: str, side: str, lift: float) -> dict[str, object]:
        return {"layer": layer, "kernel": kernel, "side": side, "lift": lift}

    payload = {
        "entropy": {"summary": {"mean_nll": {"estimate": float("nan")}, "perplexity": True}},
        "surplus": {"surplus": {"2": _interval(0.25), "3": _interval(0.4)}},
        "spectral": {
            "alignment": [
                align(0, "proto", "data", 1.1),
                align(5, "lin", "data", 1.5),
                align(5, "proto", "model", 1.0),
                {**align(5, "proto", "data", 1.7), "lift_interval": _interval(1.7)},
                align(3, "proto", "data", 1.3),
            ],
            "representation": [
                {"layer": 0, "effective_rank": 10.0},
                {"layer": 5, "effective_rank": 40},
            ],
        },
    }
    h = headline(payload)
    assert h.mean_nll is None and h.perplexity is None
    assert h.surplus_k2 == 0.25
    # The headline is the model-free same-next-token kernel (issue 11), not the model's own
    # prototypes; those are reported beside it, labelled.
    assert (h.alignment_lift_last, h.alignment_kernel) == (1.5, "lin")
    assert h.alignment_lift_last_low is None  # that row stored no interval
    assert h.alignment_lift_proto_last == 1.7
    interval = _interval(1.7)
    assert (h.alignment_lift_proto_last_low, h.alignment_lift_proto_last_high) == (
        interval["low"],
        interval["high"],
    )
    assert h.effective_rank_last == 40.0
    assert headline({}).model_dump() == dict.fromkeys(h.model_dump())


def test_headline_reads_a_real_analysis_result_dump() -> None:
    """The paths match the analysis schema: dump a result built with those models."""
    from markovlens.schema.common import Interval
    from markovlens.schema.surplus import SurplusBounds, SurplusSuite, SurplusTerm

    iv = Interval(estimate=0.3, low=0.2, high=0.4)
    suite = SurplusSuite(
        max_k=2,
        layer=1,
        num_contexts={"test": 1},
        num_windows={"test": 1},
        terms={1: SurplusTerm(j=1, term=iv, ce_with_state=1, ce_no_state=1.3, num_test_contexts=1)},
        surplus={2: iv},
        bounds={2: SurplusBounds(high=1.0, trivial_high=6.0)},
    )
    h = headline({"surplus": suite.model_dump(mode="json")})
    assert (h.surplus_k2, h.surplus_k2_detected, h.surplus_k2_upper) == (0.3, True, 1.0)


def _surplus_payload(surplus_2: dict[str, float], **extra: object) -> dict[str, object]:
    bounds = {"2": {"low": 0.0, "high": 1.25, "trivial_high": 6.0}}
    return {"surplus": {"surplus": {"2": surplus_2}, "bounds": bounds, **extra}}


def test_surplus_detected_comes_from_the_stored_flag() -> None:
    zero = {"estimate": 0.0, "low": 0.0, "high": 0.0}
    h = headline(_surplus_payload(zero, detected={"2": False, "3": True}))
    assert (h.surplus_k2, h.surplus_k2_detected, h.surplus_k2_upper) == (0.0, False, 1.25)
    # The stored flag wins over the interval (it is what the analysis decided).
    h = headline(_surplus_payload(_interval(0.3), detected={"2": False}))
    assert h.surplus_k2 == 0.3 and h.surplus_k2_detected is False


def test_surplus_detected_of_an_older_result_is_derived_from_the_interval() -> None:
    """Results stored before the ``detected`` field: detected iff the interval's low > 0."""
    zero = {"estimate": 0.0, "low": 0.0, "high": 0.0}
    assert headline(_surplus_payload(zero)).surplus_k2_detected is False
    assert headline(_surplus_payload(_interval(0.05))).surplus_k2_detected is False  # low < 0
    assert headline(_surplus_payload(_interval(0.3))).surplus_k2_detected is True
    # No interval (or a non-finite low): unknown, not "not detected".
    assert headline({"surplus": {"surplus": {}}}).surplus_k2_detected is None
    nan_low = {"estimate": 0.1, "low": float("nan"), "high": 0.2}
    assert headline(_surplus_payload(nan_low)).surplus_k2_detected is None
    assert headline({}).surplus_k2_detected is None and headline({}).surplus_k2_upper is None


def test_surplus_verdict_share_and_cap_from_the_new_fields() -> None:
    iv = {"estimate": 0.02, "low": -0.01, "high": 0.05}
    h = headline(
        _surplus_payload(
            iv,
            detected={"2": False},
            verdict={"2": "insufficient data"},
            ceiling={"1": {"j": 1, "ceiling": _interval(0.5), "share": _interval(0.3)}},
            capped=True,
        )
    )
    assert h.surplus_k2_verdict == "insufficient data" and h.surplus_k2_detected is False
    assert (h.surplus_k2_low, h.surplus_k2_high) == (-0.01, 0.05)
    assert h.surplus_k2_share == 0.3 and h.surplus_capped is True


def test_surplus_verdict_of_older_results_falls_back_to_detected_then_interval() -> None:
    zero = {"estimate": 0.0, "low": 0.0, "high": 0.0}
    assert headline(_surplus_payload(zero, detected={"2": True})).surplus_k2_verdict == "detected"
    assert headline(_surplus_payload(_interval(0.3))).surplus_k2_verdict == "detected"
    assert headline(_surplus_payload(_interval(0.05))).surplus_k2_verdict == "not detected"
    assert headline(_surplus_payload(zero)).surplus_k2_share is None
    assert headline(_surplus_payload(zero)).surplus_capped is None
    assert headline({}).surplus_k2_verdict is None


def test_ece_and_relative_calibration_gap() -> None:
    payload = {
        "entropy": {
            "summary": {"mean_entropy": _interval(2.0), "calibration_gap": _interval(0.5)},
            "calibration": {"ece": 0.04, "bins": []},
        }
    }
    h = headline(payload)
    assert h.ece == 0.04 and h.calibration_gap_relative == 0.25
    assert headline({"entropy": {"summary": {"calibration_gap": _interval(0.5)}}}).ece is None


def test_nll_and_calibration_gap_intervals_known_answer() -> None:
    payload = {
        "entropy": {
            "summary": {
                "mean_nll": {"estimate": 3.25, "low": 3.0, "high": 3.5},
                "calibration_gap": {"estimate": -0.125, "low": -0.25, "high": 0.0},
                "mean_entropy": 3.375,
            }
        }
    }
    h = headline(payload)
    assert (h.mean_nll_low, h.mean_nll, h.mean_nll_high) == (3.0, 3.25, 3.5)
    assert (h.calibration_gap_low, h.calibration_gap, h.calibration_gap_high) == (
        -0.25,
        -0.125,
        0.0,
    )
    # A bare number (older results) has no interval; a non-finite bound is dropped.
    bare = {"mean_nll": 3.25, "calibration_gap": {"estimate": 0.1, "low": float("nan"), "high": 1}}
    h = headline({"entropy": {"summary": bare}})
    assert h.mean_nll == 3.25 and (h.mean_nll_low, h.mean_nll_high) == (None, None)
    assert (h.calibration_gap_low, h.calibration_gap_high) == (None, 1.0)


def test_headline_intervals_declare_the_units_of_their_estimates() -> None:
    props = Headline.model_json_schema()["properties"]
    for key in ("mean_nll", "calibration_gap"):
        for end in ("_low", "_high"):
            field = props[key + end]
            assert field["x-unit"] == props[key]["x-unit"] == "nats", key + end
            assert field["x-direction"] == props[key]["x-direction"], key + end
            assert field["description"], key + end


def _provenanced(corpus: str = "abc", n: int = 2000, **config: object) -> dict[str, object]:
    cfg = {"window_len": 256, "min_position": 8, "seed": 0, **config}
    return {
        "provenance": {"corpus": {"hash": corpus}, "config": cfg, "seed": cfg["seed"]},
        "contexts": {"num_contexts": n},
    }


def test_contexts_key_changes_with_whatever_fixes_the_contexts() -> None:
    base = headline(_provenanced())
    assert base.contexts_key is not None and base.corpus_hash == "abc"
    assert base.num_contexts == 2000
    assert headline(_provenanced()).contexts_key == base.contexts_key
    for other in (
        _provenanced(corpus="xyz"),
        _provenanced(n=1000),
        _provenanced(window_len=128),
        _provenanced(min_position=0),
        _provenanced(seed=1),
        _provenanced(split="blocks"),
    ):
        assert headline(other).contexts_key != base.contexts_key
    # Stored before the split setting: those results used the random split.
    assert headline(_provenanced(split="random")).contexts_key == base.contexts_key
    assert headline({}).contexts_key is None

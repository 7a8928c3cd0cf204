"""Headline extraction from stored AnalysisResult payloads."""

from __future__ import annotations

from markovlens.jobs.headline import headline


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


def test_optional_sections_and_bad_values() -> None:
    payload = {
        "entropy": {"summary": {"mean_nll": {"estimate": float("nan")}, "perplexity": True}},
        "surplus": {"summary": {"surplus_k2": _interval(0.25)}},
        "spectral": {"summary": {"alignment_lift_last": 1.7, "effective_rank_last": 40}},
    }
    h = headline(payload)
    assert h.mean_nll is None and h.perplexity is None
    assert h.surplus_k2 == 0.25 and h.alignment_lift_last == 1.7
    assert h.effective_rank_last == 40.0
    assert headline({}).model_dump() == dict.fromkeys(h.model_dump())

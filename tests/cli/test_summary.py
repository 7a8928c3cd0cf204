"""The analyze command's summary rows: lift labels and order, surplus verdicts, cap warning."""

from __future__ import annotations

from types import SimpleNamespace

from markovlens.cli import LIFT_LABEL, PROTO_LIFT_LABEL, _surplus_rows, spectral_rows
from markovlens.schema.common import Interval
from markovlens.schema.surplus import SurplusBounds
from markovlens.service.schemas import Headline


def test_model_free_lift_leads_and_own_prototypes_are_labelled() -> None:
    card = Headline(
        alignment_lift_last=1.25,
        alignment_lift_last_low=1.2,
        alignment_lift_last_high=1.3,
        alignment_kernel="lin",
        alignment_lift_proto_last=1.5,
        effective_rank_last=12.0,
    )
    rows = spectral_rows(card)
    assert rows[0] == (LIFT_LABEL, "1.2500  [1.2000, 1.3000]")
    assert rows[1] == (PROTO_LIFT_LABEL, "1.5000")
    assert "model-free" in LIFT_LABEL and "own prototypes" in PROTO_LIFT_LABEL
    assert spectral_rows(Headline()) == []


def _suite(**fields: object) -> SimpleNamespace:
    base: dict[str, object] = {
        "surplus": {
            2: Interval(estimate=0.3, low=0.2, high=0.4),
            3: Interval(estimate=0.01, low=-0.02, high=0.04),
        },
        "bounds": {2: SurplusBounds(high=1.0, trivial_high=6.0),
                   3: SurplusBounds(high=2.0, trivial_high=12.0)},
        "detected": {2: True, 3: False},
    }  # fmt: skip
    return SimpleNamespace(**{**base, **fields})


def test_surplus_verdicts_including_insufficient_data() -> None:
    rows = dict(_surplus_rows(_suite()))  # an older result: no verdict, no cap flag
    assert rows["Surplus_2 (nats)"] == "0.3000  [0.2000, 0.4000]"
    assert rows["Surplus_3 (nats)"] == "not detected  (≤ 2.0000)"
    assert "warning" not in rows
    rows = dict(
        _surplus_rows(_suite(verdict={2: "insufficient data", 3: "not detected"}, capped=True))
    )
    assert rows["Surplus_2 (nats)"] == ("insufficient data  0.3000  [0.2000, 0.4000]  (≤ 1.0000)")
    assert rows["Surplus_3 (nats)"] == "not detected  (≤ 2.0000)"
    assert "cap" in rows["warning"]

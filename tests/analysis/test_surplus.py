"""Known-answer tests of the surplus estimator on hand-built contexts (no real model)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from markovlens.analysis.contexts import SampledContexts
from markovlens.analysis.head import HeadSpec
from markovlens.analysis.surplus import surplus_suite
from markovlens.schema.surplus import SurplusConfig, SurplusSuite
from torch import nn

VOCAB = 8


def iid_contexts(encode_next: bool, *, windows: int = 64, per_window: int = 20, seed: int = 0):
    """Uniform i.i.d. tokens over VOCAB symbols; the head is logits = 3·h (identity norm).

    With ``encode_next`` the state h_t is 4·onehot(y_{t+1}), so the with-state probe can read
    y_{t+1} and Surplus_2 = H(Y_{t+1} | Y_t) = log VOCAB; otherwise h_t is independent noise
    and Surplus_2 = 0.
    """
    gen = torch.Generator().manual_seed(seed)
    n, k = windows * per_window, 4
    future = torch.randint(0, VOCAB, (n, k), generator=gen)
    if encode_next:
        hidden = 4.0 * nn.functional.one_hot(future[:, 1], VOCAB).float()
    else:
        hidden = torch.randn(n, VOCAB, generator=gen)
    head = HeadSpec(norm=nn.Identity(), unembed=3.0 * torch.eye(VOCAB))
    return SampledContexts(
        hidden={0: torch.randn(n, VOCAB, generator=gen), 1: hidden},
        window_index=torch.arange(n) // per_window,
        position=torch.arange(n) % per_window,
        future_tokens=future,
        greedy_future=future.clone(),
        embed=torch.eye(VOCAB),
        head=head,
    )


FAST = SurplusConfig(
    max_k=3, lr=3e-2, max_epochs=40, max_steps=600, patience=4, bootstrap_samples=300
)


def test_surplus_equals_conditional_entropy_when_state_encodes_next_token() -> None:
    ctx = iid_contexts(encode_next=True)
    log_v = math.log(VOCAB)
    exact = {2: log_v, 3: log_v}
    suite = surplus_suite(ctx, FAST, np.random.default_rng(0), lambda f, s: None, exact)
    assert suite.exact_surplus == exact
    assert not any("exceeds the exact" in note for note in suite.notes)
    s2 = suite.surplus[2]
    # The variational estimate is a lower bound that approaches log V as the probe sharpens.
    assert log_v - 0.25 < s2.estimate < log_v + 0.1
    assert s2.low <= s2.estimate <= s2.high
    # No-state CE of i.i.d. uniform tokens ≈ log V: that is also the chart's upper bound.
    assert suite.bounds[2].high == pytest.approx(log_v, abs=0.1)
    assert suite.bounds[2].trivial_high == pytest.approx(log_v)
    # y_{t+2} is independent of h_t given y_t, y_{t+1}: term 2 ≈ 0.
    term2 = suite.terms[2].term
    assert abs(term2.estimate) < 0.1
    assert suite.surplus[3].estimate == pytest.approx(s2.estimate + term2.estimate, abs=1e-6)
    # Lookahead j=1: h_t alone carries y_{t+1}.
    look = {x.j: x for x in suite.lookahead}
    assert look[1].info.estimate > log_v - 0.35
    assert abs(look[2].info.estimate) < 0.15
    # Drafting proxy: the probe reads y_{t+1} exactly, and greedy = truth here.
    assert suite.drafting is not None and suite.drafting.acc[1] > 0.95
    # Real surplus: detected, and the with-state probe reads the state.
    assert suite.detected == {2: True, 3: True}
    assert suite.terms[1].state_used is True
    assert not any(n.startswith(("Not detected", "term_1: state unused")) for n in suite.notes)


def test_surplus_is_zero_when_state_is_independent() -> None:
    ctx = iid_contexts(encode_next=False, seed=1)
    # Told (wrongly) that the exact surplus is −1, the suite flags its estimate as too high.
    suite = surplus_suite(ctx, FAST, np.random.default_rng(1), lambda f, s: None, {2: -1.0})
    assert any("Surplus_2 exceeds the exact" in note for note in suite.notes)
    for k in (2, 3):
        s = suite.surplus[k]
        assert abs(s.estimate) < 0.05
        assert s.low <= 0.0 <= s.high
    assert suite.drafting is not None and suite.drafting.acc[1] < 0.35
    assert suite.detected == {2: False, 3: False}
    assert any(note.startswith("Not detected") and "K = 2, 3" in note for note in suite.notes)


def test_a_state_the_probe_never_uses_is_reported_as_not_detected() -> None:
    """A constant h_t gives the with-state probe nothing to read: its h_t weights stay exactly
    zero (the nested start), Surplus_2 is a floor and the suite says so."""
    ctx = iid_contexts(encode_next=False, windows=24, per_window=10, seed=4)
    ctx.hidden = {1: torch.zeros_like(ctx.hidden[1])}
    config = FAST.model_copy(
        update={"max_k": 2, "max_epochs": 4, "lookahead": False, "per_layer": False}
    )
    suite = surplus_suite(ctx, config, np.random.default_rng(4), lambda f, s: None)
    assert suite.terms[1].state_used is False
    assert suite.detected == {2: False}
    assert suite.surplus[2].low <= 0.0
    unused = [note for note in suite.notes if note.startswith("term_1: state unused")]
    assert len(unused) == 1 and "floor" in unused[0] and "upper bound" in unused[0]


def test_results_stored_before_the_detection_fields_still_validate() -> None:
    iv = {"estimate": 0.0, "low": 0.0, "high": 0.0}
    old = {
        "max_k": 3,
        "layer": 1,
        "num_contexts": {"test": 1},
        "num_windows": {"test": 1},
        "terms": {
            "1": {
                "j": 1,
                "term": iv,
                "ce_with_state": 1.0,
                "ce_no_state": 1.0,
                "num_test_contexts": 1,
            }
        },
        "surplus": {"2": iv, "3": {"estimate": 0.2, "low": 0.05, "high": 0.3}},
        "bounds": {"2": {"high": 1.0, "trivial_high": 2.0}},
    }
    suite = SurplusSuite.model_validate(old)
    assert suite.terms[1].state_used is None  # not recorded
    assert suite.detected == {2: False, 3: True}  # derived from the intervals
    stored = SurplusSuite.model_validate({**old, "detected": {"2": True}})
    assert stored.detected == {2: True}  # a stored flag is kept as it is


def test_per_layer_term1_finds_the_layer_that_encodes_the_future() -> None:
    ctx = iid_contexts(encode_next=True, seed=2)
    ctx.hidden = {0: ctx.hidden[0], 1: ctx.hidden[1], 2: torch.randn_like(ctx.hidden[1])}
    config = FAST.model_copy(update={"max_k": 2, "lookahead": False})
    suite = surplus_suite(ctx, config, np.random.default_rng(2), lambda f, s: None)
    by_layer = {x.layer: x.term1.estimate for x in suite.per_layer}
    assert set(by_layer) == {0, 1, 2}
    assert by_layer[1] > math.log(VOCAB) - 0.3
    assert abs(by_layer[0]) < 0.1 and abs(by_layer[2]) < 0.1
    # Main probes read the last layer (2, noise here): Surplus_2 ≈ 0.
    assert suite.layer == 2 and abs(suite.surplus[2].estimate) < 0.1


def test_progress_is_reported_and_every_window_is_test_once() -> None:
    ctx = iid_contexts(encode_next=True, windows=12, per_window=10)
    seen: list[tuple[float, str]] = []
    config = FAST.model_copy(update={"max_k": 2, "max_epochs": 2})
    suite = surplus_suite(ctx, config, np.random.default_rng(3), lambda f, s: seen.append((f, s)))
    assert seen[0][0] == 0.0 and seen[-1] == (1.0, "surplus: done")
    assert all(0.0 <= f <= 1.0 for f, _ in seen)
    # Cross-fitting: 5 folds of contiguous windows; every window's contexts are pooled as test.
    assert suite.folds == 5 and suite.num_windows_pooled == 12
    assert suite.num_windows["test"] == 12 and suite.num_contexts["test"] == 120
    assert suite.terms[1].num_test_contexts == 120
    # Fold 0 trains on 3 of the 5 blocks and validates on the next one.
    assert suite.num_windows["train"] + suite.num_windows["val"] < 12
    assert {p.fold for p in suite.probes} == {0, 1, 2, 3, 4}


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        SurplusConfig(max_k=6)
    with pytest.raises(ValueError):
        SurplusConfig(folds=2)
    with pytest.raises(ValueError):
        SurplusConfig(unknown=1)  # type: ignore[call-arg]
    # Stored configs from before cross-fitting (with split fractions) still load.
    assert SurplusConfig.model_validate({"train_fraction": 0.6, "val_fraction": 0.2}).folds == 5


def test_fewer_than_twenty_windows_give_insufficient_data() -> None:
    """8 windows: the estimate is large and its interval above 0, but the verdict is
    "insufficient data", never "detected"."""
    ctx = iid_contexts(encode_next=True, windows=8, per_window=20)
    config = FAST.model_copy(update={"max_k": 2, "lookahead": False, "per_layer": False})
    suite = surplus_suite(ctx, config, np.random.default_rng(5), lambda f, s: None)
    assert suite.num_windows_pooled == 8
    assert suite.surplus[2].low > 0.5  # a positive interval ...
    assert suite.verdict == {2: "insufficient data"}  # ... is not read as a detection
    assert suite.detected == {2: False}
    assert any(note.startswith("Insufficient data") for note in suite.notes)
    # Broken rule (a verdict from 2 windows): the same run would read "detected".
    lax = config.model_copy(update={"min_windows": 2})
    assert surplus_suite(ctx, lax, np.random.default_rng(5), lambda f, s: None).verdict == {
        2: "detected"
    }


def test_max_steps_one_raises_the_cap_flag() -> None:
    # Independent state: every probe converges (to the marginal) well inside the budget.
    ctx = iid_contexts(encode_next=False, windows=24, per_window=10)
    base = FAST.model_copy(update={"max_k": 2, "lookahead": False, "per_layer": False})
    capped = surplus_suite(
        ctx, base.model_copy(update={"max_steps": 1}), np.random.default_rng(6), lambda f, s: None
    )
    assert capped.capped and any(p.hit_cap for p in capped.probes)
    assert all(p.steps <= 1 for p in capped.probes)
    assert any(note.startswith("Capped:") for note in capped.notes)
    # The same data with room to converge: no probe stops at its cap.
    free = surplus_suite(ctx, base, np.random.default_rng(6), lambda f, s: None)
    assert not free.capped and not any(p.hit_cap for p in free.probes)

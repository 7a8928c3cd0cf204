"""Every lab row can fail: beside each real estimate that passes, a broken estimator it rejects.

One oracle evaluation (lookahead: early positions have higher H* than the entropy rate) and one
miscalibrated oracle (its logits doubled: p ∝ p*², over-confident) feed the row builders of
``lab/validate.py``; each broken estimator is a mistake an implementation could make.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from markovlens.analysis.architecture import introspect
from markovlens.analysis.kernels import prototypes
from markovlens.lab.exact import entropy, kl_per_position, stationary_conditionals
from markovlens.lab.oracle import OracleLM
from markovlens.lab.synthetic_sources import get_source
from markovlens.lab.validate import (
    Evaluation,
    LabScale,
    _hidden_at,
    _last_layer_alignment,
    _mean_interval,
    alignment_row,
    calibration_row,
    data_alignment,
    entropy_row,
    evaluate,
    kl_row,
    lab_config,
    nll_minus_cross_entropy_row,
    nll_row,
    recomputed_exact_row,
    rows_for,
    sufficient_alignment_row,
    surplus_row,
    surplus_two_sided,
)
from markovlens.schema.common import Interval

SCALE = LabScale(num_windows=64, n_contexts=1024)
SOURCE = get_source("lookahead")
SEED = 0


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, object]:
    return SOURCE.sample_windows(SCALE.num_windows, SCALE.window_len, seed=10_000)


def _evaluate(model: OracleLM, label: str, data: tuple) -> Evaluation:
    windows, ref = data
    return evaluate(model, label, SOURCE, windows, ref, lab_config(SCALE, surplus=False))


@pytest.fixture(scope="module")
def oracle(data: tuple) -> Evaluation:
    return _evaluate(OracleLM(SOURCE.process), "oracle", data)


@pytest.fixture(scope="module")
def tempered(data: tuple) -> Evaluation:
    """A miscalibrated model: the oracle with its logits doubled (temperature 1/2)."""
    model = OracleLM(SOURCE.process)
    with torch.no_grad():
        model.lm_head.weight.mul_(2.0)
    return _evaluate(model, "tempered", data)


def test_every_row_of_a_correct_oracle_passes(oracle: Evaluation) -> None:
    config = lab_config(SCALE, surplus=False)
    rows = rows_for(oracle, SOURCE, "oracle", oracle=True, config=config)
    assert len(rows) == 8
    assert all(r.passed is True for r in rows), [r for r in rows if not r.passed]


def test_recompute_row_rejects_true_probs_paired_with_the_wrong_position(
    oracle: Evaluation, data: tuple
) -> None:
    arrays, rc = oracle.arrays, oracle.recomputed
    assert recomputed_exact_row(arrays["exact_kl"], arrays["exact_true_entropy"], rc).passed
    windows, ref = data
    # Broken capture: p* of position t+1 paired with the logits of position t.
    shifted = np.roll(ref.true_probs, -1, axis=1)
    with torch.no_grad():
        logits = OracleLM(SOURCE.process)(input_ids=windows).logits[:, :-1]
    broken_kl = kl_per_position(shifted, logits)
    row = recomputed_exact_row(broken_kl, arrays["exact_true_entropy"], rc)
    assert row.passed is False and row.estimate > 0.1, row


def test_nll_minus_cross_entropy_row_rejects_a_misaligned_cross_entropy(
    oracle: Evaluation, data: tuple
) -> None:
    ex = oracle.result.exact
    assert ex is not None and nll_minus_cross_entropy_row(ex.nll_minus_cross_entropy).passed
    windows, ref = data
    # Broken: CE(p*, p) with p* of position t+1 against the model's p at t.
    shifted = np.roll(ref.true_probs, -1, axis=1)
    with torch.no_grad():
        logits = OracleLM(SOURCE.process)(input_ids=windows).logits[:, :-1]
    cross = kl_per_position(shifted, logits) + entropy(shifted)
    broken = _mean_interval(oracle.arrays["nll"] - cross, SEED)
    assert nll_minus_cross_entropy_row(broken).passed is False, broken


def test_kl_row_rejects_the_models_own_entropy_in_place_of_the_truths(
    tempered: Evaluation,
) -> None:
    ex, arrays = tempered.result.exact, tempered.arrays
    assert ex is not None and ex.mean_kl.estimate > 0.03  # wrong: measured 0.050 nats
    nll = arrays["nll"].astype(np.float64)
    good = _mean_interval(nll - arrays["exact_true_entropy"], SEED)
    assert kl_row(good, ex.mean_kl.estimate).passed
    broken = _mean_interval(nll - arrays["entropy"], SEED)  # mean(NLL − H(p)): not the KL
    assert kl_row(broken, ex.mean_kl.estimate).passed is False, broken


def test_entropy_row_rejects_entropy_in_bits(oracle: Evaluation) -> None:
    exact = float(oracle.recomputed.entropy.mean())
    summary = oracle.result.entropy.summary
    assert entropy_row(summary.mean_entropy, exact).passed
    bits = _mean_interval(oracle.arrays["entropy"] / np.log(2.0), SEED)
    assert entropy_row(bits, exact).passed is False


def test_nll_row_compares_with_mean_true_entropy_and_rejects_wrong_nll(
    oracle: Evaluation, tempered: Evaluation
) -> None:
    ex = oracle.result.exact
    assert ex is not None
    h_star = ex.mean_true_entropy.estimate
    # Early positions have higher H*: the row's exact value is the mean over the same
    # positions, which here differs from the asymptotic rate.
    assert h_star > ex.entropy_rate + 0.003
    assert nll_row(oracle.result.entropy.summary.mean_nll, h_star).passed
    # A constant model (uniform prediction) is far above H*.
    vocab = SOURCE.vocab_size
    uniform = Interval(estimate=np.log(vocab), low=np.log(vocab), high=np.log(vocab))
    assert nll_row(uniform, h_star).passed is False
    # An over-confident model's own entropy reported as its NLL is below H*: impossible.
    own = tempered.result.entropy.summary.mean_entropy
    assert own.high < h_star
    assert nll_row(own, h_star).passed is False


def test_calibration_row_rejects_a_gap_against_the_true_entropy(tempered: Evaluation) -> None:
    rc = tempered.recomputed
    exact_gap = float((rc.kl + rc.true_entropy - rc.entropy).mean())
    gap = tempered.result.entropy.summary.calibration_gap
    assert exact_gap > 0.1 and calibration_row(gap, exact_gap).passed
    arrays = tempered.arrays
    broken = _mean_interval(arrays["nll"] - arrays["exact_true_entropy"], SEED)  # NLL − H*
    assert calibration_row(broken, exact_gap).passed is False


def test_alignment_rows_reject_shuffled_states(oracle: Evaluation, data: tuple) -> None:
    windows, _ref = data
    model = OracleLM(SOURCE.process)
    widx = oracle.arrays["context_window"].astype(np.int64)
    pos = oracle.arrays["context_position"].astype(np.int64)
    hidden = _hidden_at(model, windows, widx, pos)
    last = max(hidden)
    protos = prototypes(introspect(model).head.unembed).double()
    observed = protos[torch.from_numpy(windows[widx, pos + 1].numpy())]
    eps = lab_config(SCALE, surplus=False).spectral.ridge_eps
    a, _r, ex_a, _er = _last_layer_alignment(oracle)
    predicted = ex_a * oracle.explained_fraction
    mine = data_alignment(hidden[last].double(), observed, eps)
    assert mine == pytest.approx(a, rel=0.05)  # the helper computes the suite's A
    assert alignment_row(a, predicted).passed and sufficient_alignment_row(ex_a).passed
    # Broken: states paired with the wrong contexts.
    perm = torch.from_numpy(np.random.default_rng(1).permutation(len(widx)))
    shuffled = hidden[last].double()[perm]
    broken = data_alignment(shuffled, observed, eps)
    assert alignment_row(broken, predicted).passed is False, (broken, predicted)
    gbar = torch.from_numpy(_ref.true_probs[widx, pos]) @ protos
    broken_exact = data_alignment(shuffled, gbar, eps)  # the exact kernel's factor is ḡ*
    assert sufficient_alignment_row(broken_exact).passed is False, broken_exact


def test_surplus_rows_are_two_sided_where_the_exact_value_is_known() -> None:
    exact = SOURCE.closed_form_surplus[2]
    assert surplus_two_sided(SOURCE, {2: exact}, oracle=True)
    assert not surplus_two_sided(SOURCE, {2: exact}, oracle=False)  # trained: unknown
    assert not surplus_two_sided(get_source("mess3"), {2: 0.06}, oracle=True)  # affine probes
    assert surplus_two_sided(get_source("markov"), {2: 0.0, 3: 0.0}, oracle=False)
    good = Interval(estimate=exact, low=exact - 0.04, high=exact + 0.04)
    assert surplus_row(2, good, True, exact, two_sided=True).passed
    # An estimator that always returns 0 fails where the exact value is positive ...
    zero = Interval(estimate=0.0, low=0.0, high=0.0)
    assert surplus_row(2, zero, False, exact, two_sided=True).passed is False
    # ... while it is right on a Markov chain (a false detection there: the next test).
    assert surplus_row(2, zero, False, 0.0, two_sided=True).passed


def _surplus_2(name: str, *, under_fitted: bool) -> Interval:
    """Surplus_2 as the difference of two cross-entropies for y_{t+2}: with the state (here the
    truth, p*(· | x_≤t+1)) and without it. A baseline that has learnt the bigram P(y_{t+2} |
    y_{t+1}) gives the ideal surplus; one stopped before it did (the unigram) inflates it."""
    src = get_source(name)
    windows, ref = src.sample_windows(SCALE.num_windows, SCALE.window_len, seed=10_000)
    tokens = windows.numpy()
    t = np.arange(3, tokens.shape[1] - 2)  # contexts x_≤t with y_{t+1}, y_{t+2} observed
    y1, y2 = tokens[:, t + 1], tokens[:, t + 2]
    with_state = -np.log(np.take_along_axis(ref.true_probs[:, t + 1], y2[..., None], -1)[..., 0])
    if under_fitted:
        no_state = -np.log(src.process.block_probs(2).sum(axis=0)[y2])
    else:
        no_state = -np.log(stationary_conditionals(src.process, 2)[0][y1, y2])
    return _mean_interval(no_state - with_state, SEED)


def test_upper_bound_surplus_row_rejects_an_under_fitted_baseline() -> None:
    exact = SOURCE.closed_form_surplus[2]
    fitted = _surplus_2("lookahead", under_fitted=False)
    assert fitted.low <= exact <= fitted.high  # the construction is right
    assert surplus_row(2, fitted, True, exact, two_sided=False).passed
    row = surplus_row(2, _surplus_2("lookahead", under_fitted=True), True, exact, two_sided=False)
    assert row.passed is False and row.low > exact, row


def test_two_sided_surplus_row_rejects_a_false_detection_on_the_markov_chain() -> None:
    fitted = _surplus_2("markov", under_fitted=False)
    assert surplus_row(2, fitted, fitted.low > 0, 0.0, two_sided=True).passed
    inflated = _surplus_2("markov", under_fitted=True)
    assert inflated.low > 0  # the under-fitted baseline "detects" surplus where there is none
    assert surplus_row(2, inflated, True, 0.0, two_sided=True).passed is False


def test_markdown_table_keeps_its_columns_when_a_row_names_a_pipe() -> None:
    from markovlens.lab.validate import EstimateRow, LabReport, SourceReport, render_markdown

    row = EstimateRow(
        source="markov", model="oracle", quantity="max |Δ|", estimate=-0.0, low=-0.0,
        high=0.0, exact=0.0, check="≤ 1e-4", passed=True,
    )  # fmt: skip
    src = SourceReport(
        source="markov", description="", entropy_rate=1.0, ideal_surplus={}, rows=[row],
        trajectory=[],
    )  # fmt: skip
    text = render_markdown(LabReport(scale=LabScale(), sources=[src], seconds=1.0, command="x"))
    line = next(t for t in text.splitlines() if t.startswith("| markov"))
    cells = line.replace("\\|", "").split("|")[1:-1]
    assert len(cells) == 8 and "-0" not in line, line

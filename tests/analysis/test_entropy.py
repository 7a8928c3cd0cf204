"""Known answers of the entropy suite: closed forms and constructed distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from markovlens.analysis.capture import exact_token_terms
from markovlens.analysis.entropy import (
    entropy_of,
    equal_mass_bins,
    expected_calibration_error,
    summarize_entropy,
    token_stats,
)


def test_uniform_distribution_has_entropy_log_v() -> None:
    for vocab in (2, 7, 384, 49_152):
        stats = token_stats(torch.zeros(3, vocab), torch.tensor([0, 1, vocab - 1]))
        assert torch.allclose(stats.entropy, torch.full((3,), math.log(vocab)), atol=1e-4)
        assert torch.allclose(stats.nll, torch.full((3,), math.log(vocab)), atol=1e-4)
        assert torch.allclose(stats.gini, torch.full((3,), 1 - 1 / vocab), atol=1e-6)
        assert torch.allclose(stats.top1_conf, torch.full((3,), 1 / vocab), atol=1e-7)


def test_token_stats_match_closed_forms_on_a_two_point_distribution() -> None:
    # p = (0.8, 0.2, 0): H = −0.8 ln 0.8 − 0.2 ln 0.2, gini = 1 − 0.68; a −inf logit is p = 0.
    logits = torch.log(torch.tensor([[0.8, 0.2, 0.0]]))
    stats = token_stats(logits, torch.tensor([1]))
    h = -(0.8 * math.log(0.8) + 0.2 * math.log(0.2))
    assert stats.entropy.item() == pytest.approx(h, abs=1e-6)
    assert stats.nll.item() == pytest.approx(-math.log(0.2), abs=1e-6)
    assert stats.gini.item() == pytest.approx(1 - 0.68, abs=1e-6)
    assert stats.top1_conf.item() == pytest.approx(0.8, abs=1e-6)
    assert stats.argmax.item() == 0 and stats.top1_hit.item() == 0.0
    assert torch.isfinite(stats.entropy).all()


def test_entropy_of_is_zero_for_a_point_mass() -> None:
    assert entropy_of(torch.tensor([0.0, 1.0, 0.0])).item() == 0.0


def test_nll_equals_kl_plus_entropy_on_a_constructed_pair() -> None:
    # p* = (1/2, 1/4, 1/4, 0), p = (1/4, 1/4, 1/4, 1/4):
    # H* = 1.5 ln 2, KL = Σ p* ln(p*/p) = 0.5 ln 2, CE = −Σ p* ln p = 2 ln 2 = KL + H*.
    pstar = torch.tensor([[0.5, 0.25, 0.25, 0.0]])
    kl, true_ent, cross = exact_token_terms(torch.zeros(1, 4), pstar)
    ln2 = math.log(2)
    assert true_ent.item() == pytest.approx(1.5 * ln2, abs=1e-6)
    assert kl.item() == pytest.approx(0.5 * ln2, abs=1e-6)
    assert cross.item() == pytest.approx(2 * ln2, abs=1e-6)
    # And E_{y~p*}[−log p(y)] is the cross-entropy: average the observed nll over y ~ p*.
    gen = torch.Generator().manual_seed(0)
    ys = torch.multinomial(pstar[0], 200_000, replacement=True, generator=gen)
    nll = token_stats(torch.zeros(len(ys), 4), ys).nll.mean().item()
    assert nll == pytest.approx(cross.item(), abs=1e-6)  # uniform p: every nll is ln 4


def test_exact_terms_on_random_pairs_satisfy_the_identity() -> None:
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(50, 30, generator=gen) * 3
    pstar = torch.softmax(torch.randn(50, 30, generator=gen) * 2, -1)
    pstar[:, :5] = 0  # zeros in p* must contribute nothing
    pstar = pstar / pstar.sum(-1, keepdim=True)
    kl, true_ent, cross = exact_token_terms(logits, pstar)
    assert torch.allclose(cross, kl + true_ent, atol=1e-5)
    assert (kl >= -1e-6).all()
    kl_same, _, _ = exact_token_terms(torch.log(pstar), pstar)
    assert kl_same.abs().max() < 1e-6


def test_ece_of_calibrated_and_overconfident_predictions() -> None:
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.05, 1.0, 400_000)
    hits = (rng.uniform(size=conf.shape) < conf).astype(float)  # calibrated by construction
    assert expected_calibration_error(conf, hits, 15).ece < 0.01
    # Confidence 0.9, accuracy 0.5 in every bin (hits interleaved): ECE = 0.4.
    over = expected_calibration_error(np.full(1500, 0.9), np.tile([1.0, 0.0], 750), 15)
    assert over.ece == pytest.approx(0.4, abs=1e-9)


def test_equal_mass_bins_split_counts_evenly_and_sort_by_x() -> None:
    x = np.arange(100.0)[::-1]
    bins = equal_mass_bins(x, 2 * x, 10)
    assert [b.count for b in bins] == [10] * 10
    assert [b.mean_x for b in bins] == sorted(b.mean_x for b in bins)
    assert all(b.mean_y == pytest.approx(2 * b.mean_x) for b in bins)


def test_summary_calibration_gap_is_zero_when_labels_are_drawn_from_the_model() -> None:
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(64, 32, 20, generator=gen) * 2
    ys = torch.multinomial(torch.softmax(logits, -1).reshape(-1, 20), 1, generator=gen)
    stats = token_stats(logits, ys.reshape(64, 32))
    arrs = [getattr(stats, n).numpy() for n in ("nll", "entropy", "gini", "top1_hit", "top1_conf")]
    suite = summarize_entropy(*arrs, 300, np.random.default_rng(0))
    gap = suite.summary.calibration_gap
    assert gap.low < 0 < gap.high  # calibrated by construction: the interval covers 0
    assert suite.calibration is not None and suite.calibration.ece < 0.05
    assert suite.entropy_reliability is not None and len(suite.entropy_reliability) == 15
    assert len(suite.nll_by_position.mean) == 32

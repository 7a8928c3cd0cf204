"""The exact quantities against closed forms and brute-force enumeration."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from markovlens.lab.exact import (
    entropy,
    entropy_rate_mc,
    exact_data_kernels,
    kl_per_position,
    surplus_terms,
)
from markovlens.lab.hmm import HiddenMarkovProcess
from markovlens.lab.synthetic_sources import get_source, source_names


def test_registry_contract() -> None:
    assert set(source_names()) >= {"markov", "mess3", "lookahead"}
    for name in source_names():
        src = get_source(f"synthetic:{name}")
        assert src is get_source(name)
        assert src.name == name and src.description and isinstance(src.seed, int)
        windows, ref = src.sample_windows(6, 20, seed=1)
        assert windows.dtype == torch.long and windows.shape == (6, 20)
        assert int(windows.max()) < src.vocab_size
        assert ref.true_probs.shape == (6, 19, src.vocab_size)
        np.testing.assert_allclose(ref.true_probs.sum(-1), 1.0, atol=1e-12)
        assert ref.source == f"synthetic:{name}"
        assert set(ref.ideal_surplus) == {2, 3, 4}
        # Same seed, same windows; another seed, other windows.
        again, _ = src.sample_windows(6, 20, seed=1)
        other, _ = src.sample_windows(6, 20, seed=2)
        assert torch.equal(windows, again) and not torch.equal(windows, other)
    with pytest.raises(KeyError, match="unknown synthetic source"):
        get_source("nope")


def test_sampler_matches_stationary_block_probabilities() -> None:
    proc = get_source("mess3").process
    tokens = proc.sample(4000, 12, np.random.default_rng(0))
    pairs = np.zeros((3, 3))
    np.add.at(pairs, (tokens[:, 5], tokens[:, 6]), 1)
    expected = proc.block_probs(2)
    np.testing.assert_allclose(pairs / pairs.sum(), expected, atol=0.015)
    assert proc.block_probs(3).sum() == pytest.approx(1.0)
    np.testing.assert_allclose(proc.block_probs(3).sum(-1), proc.block_probs(2), atol=1e-14)


def test_markov_chain_is_exactly_zero_surplus_and_memoryless() -> None:
    src = get_source("markov")
    proc = src.process
    tokens = src.sample_tokens(8, 30, seed=0)
    beliefs = proc.filter(tokens)
    # Belief after a symbol is the one-hot of that symbol: p* is the transition row.
    np.testing.assert_allclose(beliefs, np.eye(8)[tokens], atol=1e-12)
    terms = surplus_terms(proc, beliefs.reshape(-1, 8))
    assert np.abs(terms).max() < 1e-12
    rate = src.entropy_rate()[0]
    mc, se = entropy_rate_mc(proc, num=512, length=64, burn_in=1)
    assert abs(mc - rate) < 4 * se


def test_lookahead_pointwise_surplus_closed_form() -> None:
    src = get_source("lookahead")
    keys, eps = 4, 0.05
    h_echo = -(1 - eps) * math.log(1 - eps) - eps * math.log(eps / 3)
    tokens = src.sample_tokens(16, 24, seed=3)
    beliefs = src.process.filter(tokens).reshape(-1, src.process.num_states)
    terms = surplus_terms(src.process, beliefs)
    is_key = tokens.reshape(-1) < keys
    # At a key the context fixes the echo two steps ahead; nothing else carries surplus.
    np.testing.assert_allclose(terms[is_key, 0], math.log(keys) - h_echo, atol=1e-10)
    np.testing.assert_allclose(terms[~is_key, 0], 0.0, atol=1e-10)
    np.testing.assert_allclose(terms[:, 1:], 0.0, atol=1e-10)
    mc, se = entropy_rate_mc(src.process, num=256, length=96, burn_in=3)
    assert abs(mc - src.entropy_rate()[0]) < max(4 * se, 1e-9)
    _, ref = src.sample_windows(32, 64, seed=0)
    for k in (2, 3, 4):
        assert ref.ideal_surplus[k] == pytest.approx(src.closed_form_surplus[k], abs=0.02)


def _brute_force_cmi(proc: HiddenMarkovProcess, t: int, j: int) -> float:
    """I(X_0..X_t ; X_{t+1+j} | X_{t+1}..X_{t+j}) by enumerating every sequence."""
    length = t + 2 + j
    joint = proc.block_probs(length)
    ctx_axes = tuple(range(t + 1))
    p_mid_next = joint.sum(axis=ctx_axes)  # [V]*(j+1): (Y_t..Y_{t+j})
    p_ctx_mid = joint.sum(axis=-1)  # [V]*(length-1)
    p_mid = p_mid_next.sum(axis=-1)
    total = 0.0
    for seq in itertools.product(range(proc.vocab_size), repeat=length):
        p = joint[seq]
        if p <= 0:
            continue
        mid_next, mid = seq[t + 1 :], seq[t + 1 : -1]
        cond_full = p / p_ctx_mid[seq[:-1]]
        cond_mid = p_mid_next[mid_next] / p_mid[mid]
        total += p * math.log(cond_full / cond_mid)
    return total


@pytest.mark.parametrize(("t", "j"), [(0, 1), (2, 1), (1, 2)])
def test_mess3_surplus_terms_match_brute_force_enumeration(t: int, j: int) -> None:
    proc = get_source("mess3").process
    # Exact expectation of the pointwise term over every context of length t+1.
    contexts = np.array(list(itertools.product(range(3), repeat=t + 1)))
    weights = proc.block_probs(t + 1)[tuple(contexts.T)]
    beliefs = proc.filter(contexts)[:, -1]
    terms = surplus_terms(proc, beliefs, max_k=j + 1)[:, j - 1]
    assert float(weights @ terms) == pytest.approx(_brute_force_cmi(proc, t, j), abs=1e-12)
    assert float(weights @ terms) > 1e-3  # mess3 has real surplus


def test_kl_and_kernels() -> None:
    p = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    logits = torch.log(torch.tensor([[0.25, 0.25, 0.5], [0.2, 0.3, 0.5]]))
    kl = kl_per_position(p, logits)
    assert kl[0] == pytest.approx(math.log(2)) and kl[1] == pytest.approx(0.0, abs=1e-12)
    assert entropy(p)[0] == pytest.approx(math.log(2))
    unembed = np.array([[2.0, 0.0], [0.0, 3.0], [0.0, 0.0]])  # a zero row stays zero
    kern = exact_data_kernels(p, unembed)
    np.testing.assert_allclose(kern["gbar"], [[0.5, 0.5], [0.2, 0.3]])
    np.testing.assert_allclose(kern["lin"], p @ p.T)


def test_same_next_token_kernel_is_unbiased_for_exact_linear_kernel() -> None:
    """The data-side estimate 1[y_i = y_j] averages to ⟨p*_i, p*_j⟩ off the diagonal."""
    src = get_source("mess3")
    windows, ref = src.sample_windows(200, 16, seed=5)
    rows = np.arange(200)
    probs = ref.true_probs[rows, 10]
    ys = windows[rows, 11].numpy()
    exact = exact_data_kernels(probs, np.eye(3))["lin"]
    same = (ys[:, None] == ys[None, :]).astype(float)
    off = ~np.eye(200, dtype=bool)
    diff = same[off].mean() - exact[off].mean()
    assert abs(diff) < 0.02, diff

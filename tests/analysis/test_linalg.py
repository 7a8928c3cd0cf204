"""Eigensolvers, centring, whitened bases, ridge and CCA against exact answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from markovlens.analysis.linalg import (
    cca_correlations,
    center_kernel,
    factor_top_eigh,
    r2_score,
    randomized_eigh,
    ridge_cca,
    ridge_fit,
    top_eigen,
    top_eigh,
    whitened_basis,
)


def known_spectrum(n: int, evals: torch.Tensor, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    return q @ torch.diag(evals) @ q.T, q


def test_randomized_eigh_matches_known_spectrum() -> None:
    n, k = 300, 20
    evals = 0.8 ** torch.arange(n, dtype=torch.float64)
    mat, q = known_spectrum(n, evals)
    gen = torch.Generator().manual_seed(1)
    got, vecs = randomized_eigh(lambda x: mat @ x, n, k, gen, iterations=6)
    torch.testing.assert_close(got, evals[:k], rtol=1e-8, atol=1e-12)
    # Eigenvectors up to sign: |⟨v_i, q_i⟩| = 1.
    overlap = (vecs.T @ q[:, :k]).diagonal().abs()
    torch.testing.assert_close(overlap[:10], torch.ones(10, dtype=torch.float64), rtol=0, atol=1e-6)


def test_top_eigh_dense_and_randomized_paths_agree() -> None:
    n = 200
    evals = 1.0 / torch.arange(1, n + 1, dtype=torch.float64) ** 2
    mat, _ = known_spectrum(n, evals, seed=3)
    gen = torch.Generator().manual_seed(0)
    dense, _ = top_eigh(mat, 10, gen, vectors=0)
    values, vectors = top_eigh(mat, 10, gen, iterations=10)
    # fp32 solvers: eigenvalues to ~1e-6 of the largest.
    torch.testing.assert_close(dense, evals[:10], rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(values, evals[:10], rtol=1e-5, atol=1e-7)
    ritz = ((vectors.T @ mat) * vectors.T).sum(1)
    torch.testing.assert_close(ritz, evals[:10], rtol=1e-4, atol=1e-6)


def test_top_eigen_refines_the_vectors_until_their_ritz_values_converge() -> None:
    """A flat spectrum: one round of subspace iteration leaves the vectors far from converged
    (the error is reported), the refinement loop brings them to the tolerance."""
    n = 300
    evals = 1.0 / torch.arange(1, n + 1, dtype=torch.float64) ** 0.3
    mat, _ = known_spectrum(n, evals, seed=5)
    rough = top_eigen(mat, 8, torch.Generator().manual_seed(0), iterations=1, max_refinements=0)
    assert rough.vector_error > 1e-3
    good = top_eigen(mat, 8, torch.Generator().manual_seed(0), iterations=1, max_refinements=8)
    assert good.vector_error <= 1e-4
    torch.testing.assert_close(good.values, evals[:8], rtol=1e-5, atol=1e-7)


def test_factor_eigh_equals_dense() -> None:
    f = torch.randn(50, 7, dtype=torch.float64)
    evals, vecs = factor_top_eigh(f, 7)
    dense = torch.linalg.eigvalsh(f @ f.T).flip(0)[:7]
    torch.testing.assert_close(evals, dense)
    torch.testing.assert_close(vecs.T @ vecs, torch.eye(7, dtype=torch.float64))


def test_center_kernel_is_jkj() -> None:
    k = torch.randn(9, 9, dtype=torch.float64)
    k = k @ k.T
    j = torch.eye(9, dtype=torch.float64) - 1.0 / 9
    torch.testing.assert_close(center_kernel(k), j @ k @ j)


def test_whitened_basis_is_orthonormal_centred_and_spans_the_states() -> None:
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(100, 3, generator=gen, dtype=torch.float64)
    # Rank 3 in 6 columns, with a constant offset and wildly different scales.
    h = (
        base
        @ torch.randn(3, 6, generator=gen, dtype=torch.float64)
        * torch.tensor([1e3, 1.0, 1e-2, 5.0, 1.0, 1.0], dtype=torch.float64)
        + 7.0
    )
    q = whitened_basis(h, 1e-9)
    assert q.shape == (100, 3)
    torch.testing.assert_close(q.T @ q, torch.eye(3, dtype=torch.float64))
    torch.testing.assert_close(q.sum(0), torch.zeros(3, dtype=torch.float64), atol=1e-9, rtol=0)
    hc = h - h.mean(0)
    residual = hc - q @ (q.T @ hc)
    assert float(residual.norm() / hc.norm()) < 1e-9


def test_ridge_recovers_a_linear_map_and_r2() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(400, 5, generator=gen, dtype=torch.float64)
    w = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    y = x @ w + 2.0
    fit = ridge_fit(x[:300], y[:300], 1e-10)
    assert r2_score(y[300:], fit.predict(x[300:])) == pytest.approx(1.0, abs=1e-8)
    noise = torch.randn(100, 3, generator=gen, dtype=torch.float64)
    assert r2_score(noise, torch.zeros_like(noise) + noise.mean(0)) == pytest.approx(0.0)


def test_cca_is_one_for_invertible_maps_and_small_for_independent_data() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 4, generator=gen, dtype=torch.float64)
    y = x @ torch.randn(4, 4, generator=gen, dtype=torch.float64)
    fit = ridge_cca(x[:1500], y[:1500], 4, 1e-9)
    torch.testing.assert_close(
        fit.correlations, torch.ones(4, dtype=torch.float64), atol=1e-6, rtol=0
    )
    torch.testing.assert_close(
        cca_correlations(fit, x[1500:], y[1500:]),
        torch.ones(4, dtype=torch.float64),
        atol=1e-6,
        rtol=0,
    )
    z = torch.randn(2000, 4, generator=gen, dtype=torch.float64)
    indep = ridge_cca(x[:1500], z[:1500], 4, 1e-9)
    assert float(indep.correlations.max()) < 0.15
    assert float(cca_correlations(indep, x[1500:], z[1500:]).abs().max()) < 0.15
    assert np.all(np.diff(fit.correlations.numpy()) <= 1e-12)

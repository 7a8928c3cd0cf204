"""Alignment of representations with kernels, and the representation spectrum.

Definitions: docs/methods.md#alignment, #capture-curve, #representation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from markovlens.analysis.kernels import Kernel
from markovlens.analysis.linalg import (
    CovarianceEigh,
    covariance_eigh,
    eigvalsh,
    factor_top_eigh,
    rank_floor,
    single_thread,
    top_eigen,
)


@dataclass
class CenteredEigen:
    """Top eigenpairs of K_c = J K J and its trace (shared by every layer)."""

    kernel: Kernel  # the centred kernel
    eigenvalues: torch.Tensor  # descending, fp64, exact
    eigenvectors: torch.Tensor  # [N, top]
    trace: float
    vector_error: float = 0.0  # Ritz values of the eigenvectors vs exact, relative to λ_1


def centered_eigen(
    kernel: Kernel,
    top: int,
    gen: torch.Generator,
    dense_max_n: int | None,
    iterations: int,
    vectors: int | None = None,
) -> CenteredEigen:
    """Eigen-decompose the centred kernel once: factors by thin SVD, dense ones by an exact
    eigvalsh (eigenvectors by checked subspace iteration, see ``top_eigen``).

    ``dense_max_n`` no longer changes anything (eigenvalues are exact at every N); it stays
    so existing callers keep working.
    """
    del dense_max_n
    kc = kernel.centered()
    if kc.factor is not None:
        evals, evecs = factor_top_eigh(kc.factor, top)
        return CenteredEigen(kc, evals.clamp_min(0.0), evecs[:, :vectors], kc.trace())
    assert kc.dense is not None
    res = top_eigen(kc.dense, top, gen, iterations=iterations, vectors=vectors)
    return CenteredEigen(kc, res.values.clamp_min(0.0), res.vectors, kc.trace(), res.vector_error)


def kernel_spectrum(kernel: Kernel, top: int, gen: torch.Generator) -> torch.Tensor:
    """Top eigenvalues of K/N (uncentred; Nyström scaling of the operator's spectrum)."""
    if kernel.factor is not None:
        evals, _ = factor_top_eigh(kernel.factor, top)
    else:
        assert kernel.dense is not None
        evals = top_eigen(kernel.dense, top, gen, vectors=0).values
    return evals.clamp_min(0.0) / kernel.n


@dataclass
class AlignmentValues:
    d_eff: int
    alignment: float
    alignment_random: float
    capture: list[float]


def alignment(q: torch.Tensor, eig: CenteredEigen, capture_top: int) -> AlignmentValues:
    """A = tr(Qᵀ K_c Q)/Σ_{i≤d_eff} λ_i and A_rand = (d_eff/(N−1)) tr(K_c)/Σ_{i≤d_eff} λ_i.

    Q's columns are centred (orthogonal to 1), so Qᵀ K_c Q = Qᵀ K Q either way. Chance is a
    uniformly random d_eff-dimensional subspace of the centred space, which has N − 1
    dimensions (1 is excluded): its expected tr(Qᵀ K_c Q) is (d_eff/(N−1)) tr(K_c).
    """
    n, d_eff = q.shape
    top_sum = float(eig.eigenvalues[:d_eff].sum())
    if d_eff == 0 or top_sum <= 0:
        return AlignmentValues(d_eff, float("nan"), float("nan"), [])
    quad = eig.kernel.quad_trace(q)
    capture = ((q.to(torch.float64).T @ eig.eigenvectors[:, :capture_top]) ** 2).sum(0)
    return AlignmentValues(
        d_eff=d_eff,
        # Clip the rounding overshoot only: A ≤ 1 is Ky Fan's theorem.
        alignment=min(quad / top_sum, 1.0),
        alignment_random=(d_eff / (n - 1)) * eig.trace / top_sum,
        capture=capture.tolist(),
    )


@dataclass
class SpectrumStats:
    eigenvalues: np.ndarray  # descending, ≥ 0
    effective_rank: float
    participation_ratio: float
    alpha: float | None


def spectrum_stats(
    eigenvalues: np.ndarray, fit_lo: float = 0.02, fit_hi: float = 0.5
) -> SpectrumStats:
    """RankMe effective rank, participation ratio and power-law slope of a PSD spectrum.

    α is the least-squares slope of −log λ_i on log i over ranks fit_lo..fit_hi of the
    positive eigenvalues (the middle: the head is a few outliers, the tail is noise).
    """
    lam = np.sort(np.clip(np.asarray(eigenvalues, dtype=np.float64), 0.0, None))[::-1]
    total = lam.sum()
    if total <= 0:
        return SpectrumStats(lam, 0.0, 0.0, None)
    q = lam[lam > 0] / total
    eff_rank = float(np.exp(-(q * np.log(q)).sum()))
    pr = float(total**2 / (lam**2).sum())
    positive = int((lam > total * 1e-12).sum())
    lo, hi = max(0, int(fit_lo * positive)), int(np.ceil(fit_hi * positive))
    alpha = None
    if hi - lo >= 3:
        ranks = np.arange(lo + 1, hi + 1, dtype=np.float64)
        slope = np.polyfit(np.log(ranks), np.log(lam[lo:hi]), 1)[0]
        alpha = float(-slope)
    return SpectrumStats(lam, eff_rank, pr, alpha)


def anisotropy(h: torch.Tensor) -> float:
    """Mean cosine over pairs i ≠ j of the rows of ``h`` (O(N d) via the sum of unit rows)."""
    n = h.shape[0]
    if n < 2:
        return float("nan")
    unit = torch.nn.functional.normalize(h.to(torch.float64), dim=1)
    s = unit.sum(0)
    return float(((s @ s) - (unit * unit).sum()) / (n * (n - 1)))


def covariance_eigenvalues(h: torch.Tensor) -> np.ndarray:
    """Eigenvalues of the (biased) covariance of ``h`` [N, d], descending."""
    h64 = h.to(torch.float64)
    hc = h64 - h64.mean(0)
    cov = hc.T @ hc / h64.shape[0]
    return eigvalsh(cov).flip(0).clamp_min(0.0).numpy()


@dataclass
class _Moments:
    """Sums over a set of contexts of globally centred h and of each kernel factor f."""

    n: float
    sum_h: torch.Tensor  # [d]
    gram: torch.Tensor  # Σ h hᵀ [d, d]
    sum_f: list[torch.Tensor]  # per factor [d']
    cross: list[torch.Tensor]  # per factor Σ h fᵀ [d, d']
    f_sq: list[float]  # per factor Σ ‖f‖²

    @classmethod
    def of(cls, h: torch.Tensor, factors: list[torch.Tensor]) -> _Moments:
        return cls(
            float(h.shape[0]),
            h.sum(0),
            h.T @ h,
            [f.sum(0) for f in factors],
            [h.T @ f for f in factors],
            [float((f**2).sum()) for f in factors],
        )

    def __sub__(self, other: _Moments) -> _Moments:
        return _Moments(
            self.n - other.n,
            self.sum_h - other.sum_h,
            self.gram - other.gram,
            [a - b for a, b in zip(self.sum_f, other.sum_f, strict=True)],
            [a - b for a, b in zip(self.cross, other.cross, strict=True)],
            [a - b for a, b in zip(self.f_sq, other.f_sq, strict=True)],
        )


def _lifts_from_moments(m: _Moments) -> list[float]:
    """(N−1)·tr(QᵀK_cQ) / (d_eff·tr(K_c)) per factor, from sums alone (no N×N or N×d_eff
    matrix; N − 1: chance is a random subspace of the centred space, see ``alignment``).

    h is expressed in the d_eff directions kept by the rank floor, so with the centred Gram
    G = H̃ᵀH̃ = LLᵀ and cross-product C = H̃ᵀF̃: tr(QᵀK_cQ) = tr(CᵀG⁻¹C) = ‖L⁻¹C‖². A_rand's
    top-eigenvalue sum cancels in A/A_rand, so no kernel eigenvalues are needed.
    """
    mean_h = m.sum_h / m.n
    gram = m.gram - m.n * torch.outer(mean_h, mean_h)
    d_eff = gram.shape[0]
    chol, info = torch.linalg.cholesky_ex(gram)
    lifts = []
    for sum_f, cross, f_sq in zip(m.sum_f, m.cross, m.f_sq, strict=True):
        mean_f = sum_f / m.n
        trace = f_sq - m.n * float(mean_f @ mean_f)
        if d_eff == 0 or trace <= 0:
            lifts.append(float("nan"))
            continue
        centred = cross - m.n * torch.outer(mean_h, mean_f)
        if int(info) == 0:
            quad = float((torch.linalg.solve_triangular(chol, centred, upper=False) ** 2).sum())
        else:  # a window's removal left a kept direction degenerate: pseudo-inverse
            quad = float((centred * (torch.linalg.pinv(gram, hermitian=True) @ centred)).sum())
        lifts.append((m.n - 1) * quad / (d_eff * trace))
    return lifts


class _WindowDowndates:
    """Leave-one-window-out lifts from the full sums, one Woodbury correction per window.

    With the full (uncentred) Gram G₀ = Σ h hᵀ and cross products C₀ = Σ h fᵀ, removing a
    window's rows H_w and re-centring at the remaining mean gives G' = G₀ − VᵀV and
    C' = C₀ − VᵀY, where V stacks H_w and s_h'/√n' (s_h' the remaining sum), Y likewise F_w and
    s_f'/√n'. Then tr(C'ᵀG'⁻¹C') = tr(C'ᵀAC') + tr(Xᵀ S⁻¹ X) with A = G₀⁻¹, S = I − VAVᵀ and
    X = VAC': per window O(r·d·(d + d')) work for r rows, not the O(d²·d') of a fresh triangular
    solve. A window whose removal leaves G' near-singular (S not safely positive definite)
    falls back to the direct formula, with its pseudo-inverse.
    """

    def __init__(self, total: _Moments, h: torch.Tensor, factors: list[torch.Tensor]) -> None:
        self.total, self.h, self.factors = total, h, factors
        self.chol, info = torch.linalg.cholesky_ex(total.gram)
        self.ok = int(info) == 0 and h.shape[1] > 0
        # A C₀ and tr(C₀ᵀ A C₀) per factor, shared by every window.
        crosses = total.cross if self.ok else []
        self.a_cross = [torch.cholesky_solve(c, self.chol) for c in crosses]
        self.base_quad = [
            float((c * ac).sum()) for c, ac in zip(crosses, self.a_cross, strict=True)
        ]

    def lifts_without(self, rows: torch.Tensor) -> list[float]:
        total, h_w = self.total, self.h[rows]
        f_w = [f[rows] for f in self.factors]
        if not self.ok:
            return self._direct(h_w, f_w)
        n = total.n - h_w.shape[0]
        root = n**0.5
        v = torch.cat([h_w, ((total.sum_h - h_w.sum(0)) / root)[None]])
        a_vt = torch.cholesky_solve(v.T, self.chol)  # A Vᵀ [d, r + 1]
        m = v @ a_vt  # V A Vᵀ
        s_chol, info = torch.linalg.cholesky_ex(torch.eye(m.shape[0], dtype=m.dtype) - m)
        if int(info) != 0 or float(s_chol.diagonal().min()) ** 2 < 1e-8:
            return self._direct(h_w, f_w)
        d_eff = self.h.shape[1]
        lifts = []
        for k, f in enumerate(f_w):
            sum_f = total.sum_f[k] - f.sum(0)
            trace = total.f_sq[k] - float((f**2).sum()) - float(sum_f @ sum_f) / n
            if trace <= 0:
                lifts.append(float("nan"))
                continue
            y = torch.cat([f, (sum_f / root)[None]])
            z = v @ self.a_cross[k]  # V A C₀
            my = m @ y
            x = z - my  # V A C'
            quad = (
                self.base_quad[k]
                - 2.0 * float((y * z).sum())
                + float((y * my).sum())
                + float((x * torch.cholesky_solve(x, s_chol)).sum())
            )
            lifts.append((n - 1) * quad / (d_eff * trace))
        return lifts

    def _direct(self, h_w: torch.Tensor, f_w: list[torch.Tensor]) -> list[float]:
        """The replicate from its own downdated sums (its own Cholesky, or a pseudo-inverse)."""
        return _lifts_from_moments(self.total - _Moments.of(h_w, f_w))


def jackknife_lifts(
    h: torch.Tensor,
    factors: list[torch.Tensor],
    window_index: torch.Tensor,
    ridge_eps: float,
    eig: CovarianceEigh | None = None,
) -> list[tuple[float, float]]:
    """(lift, jackknife standard error over windows) of each factor kernel K = F Fᵀ.

    Each leave-one-window-out lift is the full sums minus one window's, so a replicate costs
    no factorisation of its own: by Woodbury, its inverse Gram is the full one's corrected by a
    window-sized system (see ``_WindowDowndates``). A jackknife, not a bootstrap: a resample
    with repeated contexts has fewer distinct ones, which inflates chance alignment and biases
    every replicate's lift upward (seen on pure noise: all replicates above the estimate).
    ``eig`` is ``covariance_eigh(h)`` when the caller has it.
    """
    # Centred h (so the downdated Grams subtract small means: no cancellation) in the
    # directions above the rank floor of ``whitened_basis``: every replicate works in that
    # d_eff-dimensional basis.
    evals, evecs, hc = covariance_eigh(h) if eig is None else eig
    h64 = hc @ evecs[:, rank_floor(evals, ridge_eps)[1]]
    f64 = [f.to(torch.float64) for f in factors]
    f64 = [f - f.mean(0) for f in f64]
    total = _Moments.of(h64, f64)
    estimates = _lifts_from_moments(total)
    windows = torch.unique(window_index)
    if len(windows) < 2:
        return [(e, float("nan")) for e in estimates]
    # LAPACK's threaded factorisations collapse on an oversubscribed box (see
    # ``single_thread``); the per-window work here is small GEMMs and solves.
    with single_thread():
        downdates = _WindowDowndates(total, h64, f64)
        loo = np.array(
            [downdates.lifts_without(window_index == w) for w in windows]
        )  # [windows, factors]
    g = len(windows)
    ses = np.sqrt((g - 1) / g * ((loo - loo.mean(0)) ** 2).sum(0))
    return [(e, float(se)) for e, se in zip(estimates, ses, strict=True)]

"""Linear algebra the spectral suite leans on: bases, centring, eigensolvers, ridge, CCA.

Everything works in fp64 where conditioning matters (covariances, eigen-sums) and never forms
an N×N eigendecomposition when only the top part is needed and N is large.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

MatVec = Callable[[torch.Tensor], torch.Tensor]


@contextmanager
def single_thread() -> Iterator[None]:
    """Run dense factorisations on one thread, restoring the count after.

    LAPACK's threaded eigh/svd/qr collapse when the cores are oversubscribed (measured on a
    loaded 2-core box: a 576×576 eigh went from 0.03 s to 3.5 s), and at these sizes a
    single thread is near-optimal anyway. GEMMs keep every thread.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def eigh(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with single_thread():
        evals, evecs = torch.linalg.eigh(a)
    return evals, evecs


def eigvalsh(a: torch.Tensor) -> torch.Tensor:
    with single_thread():
        return torch.linalg.eigvalsh(a)


def qr(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with single_thread():
        q, r = torch.linalg.qr(a)
    return q, r


def torch_generator(rng: np.random.Generator) -> torch.Generator:
    """A torch generator seeded from ``rng`` (keeps every draw tied to the job's seed)."""
    gen = torch.Generator()
    gen.manual_seed(int(rng.integers(0, 2**62)))
    return gen


def center_rows(x: torch.Tensor) -> torch.Tensor:
    """Subtract the column means (the centring matrix J applied on the left)."""
    return x - x.mean(dim=0, keepdim=True)


def center_kernel(k: torch.Tensor) -> torch.Tensor:
    """K_c = J K J with J = I − 11ᵀ/N, without forming J."""
    row = k.mean(dim=1, keepdim=True)
    col = k.mean(dim=0, keepdim=True)
    return k - row - col + k.mean()


def covariance_eigh(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(eigenvalues ascending, eigenvectors, centred h) of the biased covariance, fp64."""
    hc = center_rows(h.to(torch.float64))
    cov = hc.T @ hc / hc.shape[0]
    evals, evecs = eigh(cov)
    return evals, evecs, hc


CovarianceEigh = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def rank_floor(evals: torch.Tensor, ridge_eps: float) -> tuple[float, torch.Tensor]:
    """(floor ε·tr(Σ)/d, mask of the eigen-directions above it): the directions that count."""
    floor = ridge_eps * float(evals.clamp_min(0).sum()) / evals.shape[0]
    return floor, evals > max(floor, 0.0)


def whitened_basis(
    h: torch.Tensor,
    ridge_eps: float,
    eig: CovarianceEigh | None = None,
) -> torch.Tensor:
    """Orthonormal basis Q [N, d_eff] of the columns of the centred, whitened ``h`` [N, d].

    Whitening with ridge ε·tr(Σ)/d is an invertible map on the right, so it leaves the column
    span unchanged; the ridge is used as the floor below which a direction counts as noise.
    ``eig`` is ``covariance_eigh(h)`` when the caller already has it.
    """
    evals, evecs, hc = covariance_eigh(h) if eig is None else eig
    floor, keep = rank_floor(evals, ridge_eps)
    if not bool(keep.any()):
        return hc.new_zeros((hc.shape[0], 0))
    # Whitened columns: project onto kept eigenvectors and scale to unit variance, then QR.
    whitened = hc @ evecs[:, keep] / torch.sqrt(evals[keep] + floor)
    q, r = qr(whitened)
    # Drop columns that QR found numerically dependent (rank deficiency beyond the floor).
    diag = r.diagonal().abs()
    good = diag > diag.max() * 1e-10
    return q[:, good]


def randomized_eigh(
    matvec: MatVec,
    n: int,
    k: int,
    gen: torch.Generator,
    *,
    oversample: int | None = None,
    iterations: int = 6,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` eigenpairs of a symmetric PSD operator by randomized subspace iteration.

    Halko, Martinsson & Tropp (2011), Alg. 4.4 + Rayleigh–Ritz. ``matvec`` maps [n, m] → [n, m].
    Returns (eigenvalues descending [k], eigenvectors [n, k]). Oversampling defaults to
    max(16, k/4): sums of many top eigenvalues (the alignment's denominator) need it.
    """
    extra = max(16, k // 4) if oversample is None else oversample
    m = min(n, k + extra)
    basis = torch.randn(n, m, generator=gen, dtype=dtype)
    basis, _ = qr(matvec(basis))
    for _ in range(iterations):
        basis, _ = qr(matvec(basis))
    small = (basis.T @ matvec(basis)).to(torch.float64)
    small = (small + small.T) / 2
    evals, evecs = eigh(small)
    order = torch.argsort(evals, descending=True)[:k]
    return evals[order], basis.to(torch.float64) @ evecs[:, order]


@dataclass
class TopEigen:
    """Top eigenvalues (exact, descending, fp64) and top eigenvectors of a PSD matrix.

    ``vector_error``: max_i |θ_i − λ_i| / λ_1 of the eigenvectors' Ritz values θ against the
    exact eigenvalues λ (0 when no vectors were asked for): how far the vectors are from
    converged.
    """

    values: torch.Tensor
    vectors: torch.Tensor
    vector_error: float


VECTOR_TOLERANCE = 1e-4  # relative to λ_1: stop refining the eigenvectors below this


def top_eigen(
    k_mat: torch.Tensor,
    top: int,
    gen: torch.Generator,
    *,
    iterations: int = 6,
    vectors: int | None = None,
    max_refinements: int = 3,
) -> TopEigen:
    """Exact top eigenvalues of a dense PSD matrix and its top ``vectors`` eigenvectors.

    Eigenvalues: a dense fp32 ``eigvalsh`` at every N. The alignment needs the sum of the
    top d_eff of them, hundreds, and a randomized solver's Ritz values only approach each
    eigenvalue from below, so their sum is biased low and A biased high. The dense solve is
    also the cheaper one at that many eigenvalues (measured: N = 4096, 1.6 s against 1.9 s
    for the 8 products of subspace iteration), and cheaper than building the N×N kernel
    (N²|V| with |V| ≫ N). Eigenvectors (only the capture curve's few): randomized subspace
    iteration, its iterations doubled until the Ritz values agree with the exact eigenvalues
    to ``VECTOR_TOLERANCE`` or ``max_refinements`` is spent; the remaining error is returned.
    """
    n = k_mat.shape[0]
    top = min(top, n)
    vectors = top if vectors is None else min(vectors, n)
    mat = k_mat.to(torch.float32)
    every = eigvalsh(mat).flip(0).to(torch.float64)
    evals = every[:top]
    if vectors == 0:
        return TopEigen(evals, torch.zeros(n, 0, dtype=torch.float64), 0.0)
    exact = every[:vectors]
    scale = max(float(exact[0]), 1e-300)
    error = float("inf")
    evecs = torch.zeros(n, 0, dtype=torch.float64)
    its = iterations
    for _ in range(max_refinements + 1):
        ritz, evecs = randomized_eigh(
            lambda x: mat @ x, n, vectors, gen, iterations=its, dtype=torch.float32
        )
        error = float((ritz - exact[:vectors]).abs().max()) / scale
        if error <= VECTOR_TOLERANCE:
            break
        its *= 2
    return TopEigen(evals, evecs.to(torch.float64), error)


def top_eigh(
    k_mat: torch.Tensor,
    top: int,
    gen: torch.Generator,
    *,
    iterations: int = 6,
    vectors: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(exact top eigenvalues, top eigenvectors) of a PSD matrix: ``top_eigen`` unpacked."""
    res = top_eigen(k_mat, top, gen, iterations=iterations, vectors=vectors)
    return res.values, res.vectors


def factor_top_eigh(factor: torch.Tensor, top: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top eigenpairs of F Fᵀ for F [N, m], exactly, through the smaller Gram matrix.

    m ≤ N: eigh of Fᵀ F (m×m), eigenvectors u = F v / √λ. Otherwise eigh of F Fᵀ itself.
    """
    f = factor.to(torch.float64)
    n, m = f.shape
    if m > n:
        evals, evecs = eigh(f @ f.T)
        top = min(top, n)
        return evals.flip(0)[:top].clamp_min(0.0), evecs.flip(1)[:, :top]
    evals, v = eigh(f.T @ f)
    evals, v = evals.flip(0)[: min(top, m)].clamp_min(0.0), v.flip(1)[:, : min(top, m)]
    scale = torch.where(evals > evals.max() * 1e-12, evals.rsqrt(), 0.0)
    return evals, (f @ v) * scale


@dataclass
class RidgeFit:
    """y ≈ (x − x_mean) W + y_mean, fitted by ridge regression."""

    weight: torch.Tensor
    x_mean: torch.Tensor
    y_mean: torch.Tensor
    ridge: float

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return (x.to(torch.float64) - self.x_mean) @ self.weight + self.y_mean


def ridge_fit(x: torch.Tensor, y: torch.Tensor, ridge_rel: float) -> RidgeFit:
    """Ridge regression with penalty ``ridge_rel``·tr(XᵀX)/d (scale-free)."""
    return ridge_path(x, y, (ridge_rel,))[0]


def ridge_path(x: torch.Tensor, y: torch.Tensor, ridges: tuple[float, ...]) -> list[RidgeFit]:
    """Ridge fits for several relative penalties from one eigendecomposition of XᵀX."""
    x64, y64 = x.to(torch.float64), y.to(torch.float64)
    x_mean, y_mean = x64.mean(0), y64.mean(0)
    xc, yc = x64 - x_mean, y64 - y_mean
    evals, evecs = eigh(xc.T @ xc)
    evals = evals.clamp_min(0.0)
    rotated = evecs.T @ (xc.T @ yc)
    fits = []
    for rel in ridges:
        lam = rel * float(evals.sum()) / evals.shape[0]
        weight = evecs @ (rotated / (evals + lam).clamp_min(1e-300)[:, None])
        fits.append(RidgeFit(weight=weight, x_mean=x_mean, y_mean=y_mean, ridge=rel))
    return fits


def r2_score(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
    """Multi-output R² = 1 − SSE / SST (SST about the evaluation set's own mean)."""
    y64 = y_true.to(torch.float64)
    sse = float(((y64 - y_pred.to(torch.float64)) ** 2).sum())
    sst = float(((y64 - y64.mean(0)) ** 2).sum())
    return 1.0 - sse / sst if sst > 0 else float("nan")


def _inv_sqrt(cov: torch.Tensor, ridge_rel: float) -> torch.Tensor:
    evals, evecs = eigh(cov)
    lam = ridge_rel * float(evals.clamp_min(0).sum()) / cov.shape[0]
    return evecs @ torch.diag((evals.clamp_min(0) + lam).rsqrt()) @ evecs.T


def cca_inv_sqrt(y: torch.Tensor, ridge_rel: float) -> torch.Tensor:
    """(Cov(y) + ridge)^{-1/2}, the per-side whitening of ridge CCA."""
    yc = center_rows(y.to(torch.float64))
    return _inv_sqrt(yc.T @ yc / yc.shape[0], ridge_rel)


@dataclass
class CCAFit:
    """Ridge CCA: canonical directions for x and y and their in-sample correlations."""

    x_dirs: torch.Tensor  # [dx, k]
    y_dirs: torch.Tensor  # [dy, k]
    x_mean: torch.Tensor
    y_mean: torch.Tensor
    correlations: torch.Tensor  # [k]


def ridge_cca(
    x: torch.Tensor,
    y: torch.Tensor,
    top: int,
    ridge_rel: float,
    y_inv_sqrt: torch.Tensor | None = None,
) -> CCAFit:
    """Top canonical correlations: singular values of Cxx^{-1/2} Cxy Cyy^{-1/2} (ridged).

    ``y_inv_sqrt`` is ``cca_inv_sqrt(y, ridge_rel)`` when y is shared by several calls.
    """
    x64, y64 = x.to(torch.float64), y.to(torch.float64)
    x_mean, y_mean = x64.mean(0), y64.mean(0)
    xc, yc = x64 - x_mean, y64 - y_mean
    n = xc.shape[0]
    wx = _inv_sqrt(xc.T @ xc / n, ridge_rel)
    wy = cca_inv_sqrt(y, ridge_rel) if y_inv_sqrt is None else y_inv_sqrt
    with single_thread():
        u, s, vh = torch.linalg.svd(wx @ (xc.T @ yc / n) @ wy, full_matrices=False)
    top = min(top, s.shape[0])
    return CCAFit(
        x_dirs=wx @ u[:, :top],
        y_dirs=wy @ vh.T[:, :top],
        x_mean=x_mean,
        y_mean=y_mean,
        correlations=s[:top].clamp(max=1.0),
    )


def cca_correlations(fit: CCAFit, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each fitted canonical pair on new data (held-out CCA)."""
    a = (x.to(torch.float64) - fit.x_mean) @ fit.x_dirs
    b = (y.to(torch.float64) - fit.y_mean) @ fit.y_dirs
    a, b = center_rows(a), center_rows(b)
    denom = (a.norm(dim=0) * b.norm(dim=0)).clamp_min(1e-300)
    return (a * b).sum(0) / denom

"""Pullback Fisher–Rao metric at the head and the Dirichlet energy of linear read-outs.

G(h) = Jᵀ (diag p − p pᵀ) J with J = ∂z/∂h = diag(c) U N(h): N(h) the final norm's Jacobian,
c the per-logit factor of the logit scale and the soft-cap. G(h) = Σ_w p_w (j_w − m)(j_w − m)ᵀ
with j_w the rows of J and m = Jᵀp the mean over the WHOLE vocabulary. The outer sum is
restricted to each context's top-mass tokens, still centred at the full m: the dropped terms
are PSD, so the truncated metric is a Loewner lower bound of G (the retained mass is reported).
Centring at the truncated mean instead adds a spurious term along any direction the
unembedding rows share (a common offset), and the bound fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from markovlens.analysis.head import HeadSpec
from markovlens.analysis.kernels import Kernel, head_logits_chunk, normed_hidden
from markovlens.analysis.linalg import eigh


def norm_jacobians(norm: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """∂norm(h)/∂h for each row of ``hidden`` [M, d] → [M, d, d] (fp32, CPU)."""
    params = list(norm.parameters())
    device = params[0].device if params else torch.device("cpu")
    dtype = params[0].dtype if params else torch.float32
    h = hidden.to(device, dtype)

    def one(x: torch.Tensor) -> torch.Tensor:
        return norm(x.unsqueeze(0)).squeeze(0)

    with torch.enable_grad():
        try:
            jac = torch.func.vmap(torch.func.jacrev(one))(h)
        except Exception:  # some custom norms do not vmap; fall back to a loop
            jac = torch.stack([torch.autograd.functional.jacobian(one, x) for x in h])
    return jac.detach().to("cpu", torch.float32)


@dataclass
class FisherResult:
    mean_metric: torch.Tensor  # [d, d] fp64
    eigenvalues: torch.Tensor  # descending
    eigenvectors: torch.Tensor  # [d, d], columns = sensitivity directions
    retained_mass: float


@torch.no_grad()
def _full_mean_direction(
    head: HeadSpec, normed: torch.Tensor, probs: torch.Tensor, chunk: int
) -> torch.Tensor:
    """Σ_w p_w c_w U_w over the whole vocabulary [M, d] (fp64): m = Jᵀp before the norm's
    Jacobian. c_w = scale·(1 − tanh²(raw_w/cap)) is the logit's chain-rule factor."""
    vocab = head.unembed.shape[0]
    total = torch.zeros(normed.shape[0], normed.shape[1], dtype=torch.float64)
    for lo in range(0, vocab, chunk):
        hi = min(vocab, lo + chunk)
        u = head.unembed[lo:hi].detach().to("cpu", torch.float32)
        weight = probs[:, lo:hi] * float(head.logit_scale)
        if head.final_softcap is not None:
            raw = normed @ u.T
            if head.bias is not None:
                raw = raw + head.bias[lo:hi].detach().to("cpu", torch.float32)
            raw = raw * head.logit_scale
            weight = weight * (1.0 - torch.tanh(raw.double() / head.final_softcap) ** 2)
        total += weight @ u.double()
    return total


@torch.no_grad()
def _probs_full(head: HeadSpec, normed: torch.Tensor, chunk: int) -> torch.Tensor:
    """Full softmax of the head for a small subsample [M, V] (M is small, so this is fine)."""
    vocab = head.unembed.shape[0]
    parts = [
        head_logits_chunk(head, normed, lo, min(vocab, lo + chunk)) for lo in range(0, vocab, chunk)
    ]
    return torch.softmax(torch.cat(parts, dim=1).to(torch.float64), dim=1)


def mean_fisher(
    head: HeadSpec, hidden: torch.Tensor, top_tokens: int, chunk: int = 8192
) -> FisherResult:
    """Mean over rows of ``hidden`` [M, d] of the pullback Fisher metric G(h)."""
    normed = normed_hidden(head, hidden)
    probs = _probs_full(head, normed, chunk)
    jac_norm = norm_jacobians(head.norm, hidden)
    # m = Jᵀp over the whole vocabulary: the centre of every retained term.
    full_mean = torch.bmm(
        _full_mean_direction(head, normed, probs, chunk).float()[:, None, :], jac_norm
    ).squeeze(1)  # [M, d]
    keep = min(top_tokens, probs.shape[1])
    d = hidden.shape[1]
    total = torch.zeros(d, d, dtype=torch.float64)
    p_top, idx = probs.topk(keep, dim=1)  # [M, keep]
    retained = float(p_top.sum())
    unembed = head.unembed.detach()
    bias = None if head.bias is None else head.bias.detach().to("cpu", torch.float32)
    # Batches of contexts with fp32 products (the eigenvalues need ~1e-6 relative accuracy),
    # accumulated in fp64; a batch holds [b, keep, d] floats.
    batch = max(1, 2**24 // max(1, keep * d))
    for lo in range(0, hidden.shape[0], batch):
        sl = slice(lo, lo + batch)
        ids = idx[sl]
        u = unembed[ids.to(unembed.device)].to("cpu", torch.float32)  # [b, keep, d]
        # Chain rule through z = cap(scale·(U n + b)): dz/dn = scale·(1 − tanh²)·U.
        factor = torch.full(ids.shape, float(head.logit_scale))
        if head.final_softcap is not None:
            raw = torch.einsum("bkd,bd->bk", u, normed[sl])
            if bias is not None:
                raw = raw + bias[ids]
            raw = raw * head.logit_scale
            factor = factor * (1.0 - torch.tanh(raw / head.final_softcap) ** 2)
        jac = torch.bmm(factor[..., None] * u, jac_norm[sl])  # [b, keep, d]
        p = p_top[sl].to(torch.float32)
        part = torch.einsum("bk,bkd->bd", p, jac).double()  # Σ_top p_w j_w
        mass = p.sum(1).double()  # Σ_top p_w
        m = full_mean[sl].double()
        second = torch.einsum("bkd,bke->de", jac * p[..., None], jac).double()
        # Σ_top p_w (j_w − m)(j_w − m)ᵀ = Σ p j jᵀ − m sᵀ − s mᵀ + (Σ p) m mᵀ.
        cross = m.T @ part
        total += second - cross - cross.T + (m * mass[:, None]).T @ m
    metric = total / hidden.shape[0]
    metric = (metric + metric.T) / 2
    evals, evecs = eigh(metric)
    return FisherResult(
        mean_metric=metric,
        eigenvalues=evals.flip(0).clamp_min(0.0),
        eigenvectors=evecs.flip(1),
        retained_mass=retained / hidden.shape[0],
    )


def dirichlet_energy(kernel: Kernel, phi: torch.Tensor) -> torch.Tensor:
    """E_K(φ)/Var(φ) with E_K(φ) = (1/2N²) Σ_ij K_ij (φ_i − φ_j)², for each column of φ [N, m].

    Uses Σ_ij K_ij (φ_i − φ_j)² = 2 φᵀ (D − K) φ, D = diag(K 1): O(N² m) for a dense K.
    """
    phi64 = phi.to(torch.float64)
    n = phi64.shape[0]
    degree = kernel.matmul(torch.ones(n, 1, dtype=torch.float64)).squeeze(1)
    laplace = (degree[:, None] * phi64 - kernel.matmul(phi64)) * phi64
    energy = laplace.sum(0) / n**2
    var = phi64.var(dim=0, unbiased=False)
    return torch.where(var > 0, energy / var.clamp_min(1e-300), torch.zeros_like(energy))

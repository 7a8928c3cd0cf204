"""Pullback Fisher metric against autograd, and Dirichlet energy closed forms."""

from __future__ import annotations

import math

import pytest
import torch
from markovlens.analysis.fisher import dirichlet_energy, mean_fisher
from markovlens.analysis.head import HeadSpec
from markovlens.analysis.kernels import Kernel
from torch import nn
from transformers.models.llama.modeling_llama import LlamaRMSNorm

D, V = 6, 30


def make_head(kind: str, *, softcap: float | None = None, bias: bool = False) -> HeadSpec:
    gen = torch.Generator().manual_seed(0)
    norm: nn.Module
    if kind == "rms":
        norm = LlamaRMSNorm(D, eps=1e-6)
    else:
        norm = nn.LayerNorm(D)
        with torch.no_grad():
            norm.bias.copy_(0.1 * torch.randn(D, generator=gen))
    with torch.no_grad():
        norm.weight.copy_(1.0 + 0.3 * torch.randn(D, generator=gen))
    return HeadSpec(
        norm=norm,
        unembed=torch.randn(V, D, generator=gen),
        bias=0.2 * torch.randn(V, generator=gen) if bias else None,
        logit_scale=0.7,
        final_softcap=softcap,
    )


def autograd_fisher(head: HeadSpec, hidden: torch.Tensor) -> torch.Tensor:
    total = torch.zeros(D, D, dtype=torch.float64)
    for h in hidden:
        jac = torch.autograd.functional.jacobian(lambda x: head.logits(x), h).double()
        p = torch.softmax(head.logits(h).double(), dim=-1)
        total += jac.T @ (torch.diag(p) - torch.outer(p, p)) @ jac
    return total / hidden.shape[0]


@pytest.mark.parametrize(
    ("kind", "softcap", "bias"), [("rms", None, False), ("ln", None, True), ("rms", 3.0, True)]
)
def test_mean_fisher_matches_autograd(kind: str, softcap: float | None, bias: bool) -> None:
    head = make_head(kind, softcap=softcap, bias=bias)
    hidden = 2.0 * torch.randn(5, D, generator=torch.Generator().manual_seed(1))
    got = mean_fisher(head, hidden, top_tokens=V, chunk=7)
    want = autograd_fisher(head, hidden)
    torch.testing.assert_close(got.mean_metric, want, rtol=1e-4, atol=1e-6)
    assert got.retained_mass == pytest.approx(1.0, abs=1e-9)
    evals = torch.linalg.eigvalsh(want).flip(0)
    torch.testing.assert_close(got.eigenvalues, evals.clamp_min(0), rtol=1e-4, atol=1e-6)


def test_truncated_fisher_is_a_psd_lower_bound() -> None:
    head = make_head("ln")
    hidden = torch.randn(4, D, generator=torch.Generator().manual_seed(2))
    full = mean_fisher(head, hidden, top_tokens=V).mean_metric
    part = mean_fisher(head, hidden, top_tokens=5)
    assert part.retained_mass < 1.0
    # fp32 products: PSD up to ~1e-6 of the scale (LayerNorm leaves one exact null direction).
    scale = float(torch.linalg.eigvalsh(full).max())
    assert float(torch.linalg.eigvalsh(part.mean_metric).min()) > -1e-5 * scale
    assert float(torch.linalg.eigvalsh(full - part.mean_metric).min()) > -1e-5 * scale


def circulant(n: int) -> torch.Tensor:
    """K_ij = 1 at i = j, 0.25 at |i − j| = 1 (mod n): eigenvalues 1 + 0.5 cos(2πm/n)."""
    k = torch.eye(n, dtype=torch.float64)
    shift = torch.roll(torch.eye(n, dtype=torch.float64), 1, dims=1)
    return k + 0.25 * (shift + shift.T)


def test_dirichlet_energy_of_constant_is_zero() -> None:
    kernel = Kernel("k", "data", dense=circulant(20))
    phi = torch.full((20, 1), 3.0, dtype=torch.float64)
    assert float(dirichlet_energy(kernel, phi)[0]) == 0.0


def test_dirichlet_energy_of_eigenvector_has_closed_form() -> None:
    n, m = 24, 3
    k = circulant(n)
    i = torch.arange(n, dtype=torch.float64)
    phi = torch.cos(2 * math.pi * m * i / n)[:, None]
    lam = 1 + 0.5 * math.cos(2 * math.pi * m / n)
    degree = 1.5
    # E = (1/N²)(deg − λ)‖φ‖², Var = ‖φ‖²/N, so E/Var = (deg − λ)/N.
    expected = (degree - lam) / n
    assert float(dirichlet_energy(Kernel("k", "data", dense=k), phi)[0]) == pytest.approx(expected)
    # The factor form of the same kernel gives the same number.
    evals, evecs = torch.linalg.eigh(k)
    factor = evecs * evals.clamp_min(0).sqrt()
    got = float(dirichlet_energy(Kernel("k", "data", factor=factor), phi)[0])
    assert got == pytest.approx(expected)


def test_dirichlet_energy_matches_pairwise_definition() -> None:
    gen = torch.Generator().manual_seed(0)
    f = torch.rand(15, 4, generator=gen, dtype=torch.float64)
    k = f @ f.T
    phi = torch.randn(15, 2, generator=gen, dtype=torch.float64)
    diff = (phi[:, None, :] - phi[None, :, :]) ** 2
    energy = (k[:, :, None] * diff).sum((0, 1)) / (2 * 15**2)
    expected = energy / phi.var(0, unbiased=False)
    torch.testing.assert_close(dirichlet_energy(Kernel("k", "data", dense=k), phi), expected)


def offset_head(offset: float) -> HeadSpec:
    """An RMS-norm head whose unembedding rows share a common offset (like a trained model's
    mean unembedding direction): it shifts every logit equally, so p and G do not change."""
    head = make_head("rms")
    common = offset * torch.ones(D) / math.sqrt(D)
    return HeadSpec(
        norm=head.norm,
        unembed=head.unembed + common,
        bias=None,
        logit_scale=head.logit_scale,
        final_softcap=None,
    )


def test_truncated_fisher_with_a_shared_offset_stays_below_the_full_metric() -> None:
    """G − G_trunc ⪰ 0 with rows sharing an offset: the truncation is centred at the full mean
    m = Jᵀp. Centred at the truncated mean, a spurious P(1−P)·o oᵀ term breaks the bound."""
    hidden = 2.0 * torch.randn(6, D, generator=torch.Generator().manual_seed(4))
    plain = mean_fisher(make_head("rms"), hidden, top_tokens=V).mean_metric
    full = mean_fisher(offset_head(8.0), hidden, top_tokens=V).mean_metric
    # The offset shifts all logits of a context by the same amount: the metric is unchanged
    # (up to the norm's Jacobian acting on an unchanged softmax).
    torch.testing.assert_close(full, plain, rtol=1e-3, atol=1e-4)
    part = mean_fisher(offset_head(8.0), hidden, top_tokens=8)
    assert 0.5 < part.retained_mass < 0.99
    scale = float(torch.linalg.eigvalsh(full).max())
    assert float(torch.linalg.eigvalsh(full - part.mean_metric).min()) > -1e-5 * scale
    assert float(part.eigenvalues[0]) <= float(torch.linalg.eigvalsh(full).max()) * (1 + 1e-5)


def truncated_mean_fisher(head: HeadSpec, hidden: torch.Tensor, top: int) -> torch.Tensor:
    """The old estimator, for contrast: Σ_top p j jᵀ − s sᵀ with s = Σ_top p j (autograd)."""
    total = torch.zeros(D, D, dtype=torch.float64)
    for h in hidden:
        jac = torch.autograd.functional.jacobian(lambda x: head.logits(x), h).double()
        p = torch.softmax(head.logits(h).double(), dim=-1)
        idx = p.topk(top).indices
        pj, jj = p[idx], jac[idx]
        s = pj @ jj
        total += (jj * pj[:, None]).T @ jj - torch.outer(s, s)
    return total.detach() / hidden.shape[0]


def test_truncated_mean_centring_fails_the_loewner_bound() -> None:
    """The check above can fail: the old truncated-mean centring breaks G − G_trunc ⪰ 0 on the
    same head, with a top eigenvalue well above the full metric's."""
    head = offset_head(8.0)
    hidden = 2.0 * torch.randn(6, D, generator=torch.Generator().manual_seed(4))
    full = mean_fisher(head, hidden, top_tokens=V).mean_metric
    old = truncated_mean_fisher(head, hidden, top=8)
    scale = float(torch.linalg.eigvalsh(full).max())
    assert float(torch.linalg.eigvalsh(full - old).min()) < -0.1 * scale
    assert float(torch.linalg.eigvalsh(old).max()) > 1.5 * scale

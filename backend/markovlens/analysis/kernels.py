"""Kernels on contexts (docs/methods.md#kernels): data side from observed tokens, model side
from p_i.

The model-side quantities need P [N, |V|], which is never materialised: one pass over
vocabulary chunks with an online (running-max) log-sum-exp accumulates Ḡ, P Pᵀ and √P √Pᵀ.
A kernel is kept either as a factor F (K = F Fᵀ, cheap when F is thin) or as a dense N×N matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from markovlens.analysis.head import HeadSpec
from markovlens.analysis.linalg import center_kernel, center_rows


@dataclass
class Kernel:
    """A PSD kernel on N contexts: ``factor`` F with K = F Fᵀ, or ``dense`` K."""

    name: str
    side: str
    factor: torch.Tensor | None = None
    dense: torch.Tensor | None = None
    _dense32: torch.Tensor | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        mat = self.factor if self.factor is not None else self.dense
        assert mat is not None
        return int(mat.shape[0])

    def matmul(self, x: torch.Tensor) -> torch.Tensor:
        """K x in fp64."""
        x64 = x.to(torch.float64)
        if self.factor is not None:
            f = self.factor.to(torch.float64)
            return f @ (f.T @ x64)
        assert self.dense is not None
        return self.dense.to(torch.float64) @ x64

    def trace(self) -> float:
        if self.factor is not None:
            return float((self.factor.to(torch.float64) ** 2).sum())
        assert self.dense is not None
        return float(self.dense.to(torch.float64).diagonal().sum())

    def quad_trace(self, q: torch.Tensor) -> float:
        """tr(Qᵀ K Q). Dense: an fp32 GEMM (O(N² d) per layer, the suite's biggest product;
        a sum of non-negative terms λ_i‖Qᵀu_i‖², so fp32 rounding stays relative ~1e-6)."""
        if self.factor is not None:
            return float(((q.to(torch.float64).T @ self.factor.to(torch.float64)) ** 2).sum())
        assert self.dense is not None
        if self._dense32 is None:
            self._dense32 = self.dense.to(torch.float32)
        q32 = q.to(torch.float32)
        return float((q32 * (self._dense32 @ q32)).sum(dtype=torch.float64))

    def centered(self) -> Kernel:
        """J K J (for a factor, J F: centring the rows keeps it a factor)."""
        if self.factor is not None:
            return Kernel(self.name, self.side, factor=center_rows(self.factor.to(torch.float64)))
        assert self.dense is not None
        return Kernel(self.name, self.side, dense=center_kernel(self.dense.to(torch.float64)))

    def to_dense(self) -> torch.Tensor:
        if self.dense is not None:
            return self.dense.to(torch.float64)
        assert self.factor is not None
        f = self.factor.to(torch.float64)
        return f @ f.T


def prototypes(unembed: torch.Tensor) -> torch.Tensor:
    """g(w) = U_w / ‖U_w‖ in fp32 on CPU; a zero row (untrained padding) stays zero."""
    u = unembed.detach().to("cpu", torch.float32)
    norms = u.norm(dim=1, keepdim=True)
    return torch.where(norms > 0, u / norms.clamp_min(torch.finfo(u.dtype).tiny), 0.0)


def normed_hidden(head: HeadSpec, hidden: torch.Tensor) -> torch.Tensor:
    """norm(h) with the model's own final norm, returned fp32 on CPU."""
    device = head.unembed.device
    with torch.no_grad():
        out = head.norm(hidden.to(device, head.unembed.dtype))
    return out.detach().to("cpu", torch.float32)


def head_logits_chunk(head: HeadSpec, normed: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """Columns lo:hi of the head's logits from already-normed states (same ops as HeadSpec).

    Computed in fp32 on ``normed``'s device.
    """
    u = head.unembed[lo:hi].detach().to(normed.device, torch.float32)
    logits = normed @ u.T
    if head.bias is not None:
        logits = logits + head.bias[lo:hi].detach().to(normed.device, torch.float32)
    logits = logits * head.logit_scale
    if head.final_softcap is not None:
        logits = torch.tanh(logits / head.final_softcap) * head.final_softcap
    return logits


@dataclass
class ModelSideStats:
    """Ḡ [N, d], K_lin = P Pᵀ and K_bc = √P √Pᵀ [N, N], from one pass over the vocabulary.

    ``k_lin`` and ``k_bc`` are None when only Ḡ was asked for (``grams=False``).
    """

    g_bar: torch.Tensor
    k_lin: torch.Tensor | None
    k_bc: torch.Tensor | None
    log_normalizer: torch.Tensor  # [N] log Σ_w exp z_w


@torch.no_grad()
def model_side_stats(
    head: HeadSpec,
    hidden_last: torch.Tensor,
    protos: torch.Tensor,
    chunk: int = 8192,
    device: torch.device | str = "cpu",
    grams: bool = True,
) -> ModelSideStats:
    """Accumulate Ḡ, P Pᵀ, √P √Pᵀ chunk by chunk with a running max (stable, exact).

    The N×chunk×N products run on ``device``; results come back to the CPU. With
    ``grams=False`` only Ḡ is accumulated: the two N×N products are most of the cost.
    """
    normed = normed_hidden(head, hidden_last).to(device)
    n = normed.shape[0]
    vocab = head.unembed.shape[0]
    f64 = torch.float64
    dev = normed.device
    run_max = torch.full((n,), -torch.inf, dtype=f64, device=dev)
    total = torch.zeros(n, dtype=f64, device=dev)
    g_acc = torch.zeros(n, protos.shape[1], dtype=f64, device=dev)
    lin_acc = torch.zeros(n, n, dtype=f64, device=dev) if grams else None
    bc_acc = torch.zeros(n, n, dtype=f64, device=dev) if grams else None
    for lo in range(0, vocab, chunk):
        hi = min(vocab, lo + chunk)
        z = head_logits_chunk(head, normed, lo, hi)  # fp32
        new_max = torch.maximum(run_max, z.max(dim=1).values.to(f64))
        # Rescale what was accumulated against the old max (exp(−inf) = 0 on the first chunk).
        scale = torch.exp(run_max - new_max)
        run_max = new_max
        # exp in fp32 (e ≤ 1 keeps ~1e-7 relative; an fp64 exp over N × |V| cost seconds),
        # every sum and product accumulated in fp64. The N×chunk×N products dominate and are
        # symmetric: only their upper block triangle is multiplied.
        e32 = torch.exp(z.sub_(new_max.to(torch.float32)[:, None]))
        total = total * scale + e32.sum(1, dtype=f64)
        g_acc = g_acc * scale[:, None] + (e32 @ protos[lo:hi].to(dev, torch.float32)).to(f64)
        if lin_acc is not None and bc_acc is not None:
            lin_acc = lin_acc * torch.outer(scale, scale) + _symmetric_gram(e32).to(f64)
            sq = scale.sqrt()
            bc_acc = bc_acc * torch.outer(sq, sq) + _symmetric_gram(e32.sqrt()).to(f64)
    g_bar = g_acc / total[:, None]
    root = total.sqrt()
    k_lin = None if lin_acc is None else lin_acc / torch.outer(total, total)
    k_bc = None if bc_acc is None else bc_acc / torch.outer(root, root)
    return ModelSideStats(g_bar=g_bar, k_lin=k_lin, k_bc=k_bc, log_normalizer=run_max + total.log())


def _symmetric_gram(x: torch.Tensor, blocks: int = 4) -> torch.Tensor:
    """x xᵀ from the GEMMs of its upper block triangle (b(b+1)/2 of b² blocks), mirrored."""
    n = x.shape[0]
    edges = [round(i * n / blocks) for i in range(blocks + 1)]
    out = torch.empty(n, n, dtype=x.dtype, device=x.device)
    for i in range(blocks):
        a0, a1 = edges[i], edges[i + 1]
        for j in range(i, blocks):
            b0, b1 = edges[j], edges[j + 1]
            block = x[a0:a1] @ x[b0:b1].T
            out[a0:a1, b0:b1] = block
            if j != i:
                out[b0:b1, a0:a1] = block.T
    return out


def data_side_kernels(next_tokens: torch.Tensor, protos: torch.Tensor) -> dict[str, Kernel]:
    """proto: Ḡ^data = g(y_i); lin: 1[y_i = y_j] as a one-hot factor over the tokens seen."""
    uniq, inverse = torch.unique(next_tokens, return_inverse=True)
    onehot = torch.zeros(next_tokens.shape[0], uniq.shape[0], dtype=torch.float64)
    onehot[torch.arange(next_tokens.shape[0]), inverse] = 1.0
    return {
        "proto": Kernel("proto", "data", factor=protos[next_tokens].to(torch.float64)),
        "lin": Kernel("lin", "data", factor=onehot),
    }


def model_side_kernels(stats: ModelSideStats, beta: float) -> dict[str, Kernel]:
    """proto = Ḡ Ḡᵀ, lin = P Pᵀ, bc = √P √Pᵀ, hel = exp(−β·2(1 − K_bc)) (proto only when the
    stats were accumulated without the N×N products)."""
    proto = Kernel("proto", "model", factor=stats.g_bar)
    if stats.k_lin is None or stats.k_bc is None:
        return {"proto": proto}
    # Rounding can push K_bc a hair above 1 on the diagonal; the kernel is defined on [0, 1].
    bc = stats.k_bc.clamp(0.0, 1.0)
    return {
        "proto": proto,
        "lin": Kernel("lin", "model", dense=stats.k_lin),
        "bc": Kernel("bc", "model", dense=bc),
        "hel": Kernel("hel", "model", dense=torch.exp(-beta * 2.0 * (1.0 - bc))),
    }

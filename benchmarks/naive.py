"""The naive baseline, written the obvious way, for benchmark 2.

Every layer's hidden states for every token (``output_hidden_states=True``), the full-vocabulary
lens on every token of every layer, the predictive matrix P [N, |V|] materialised, and dense
eigendecompositions of every N×N kernel. Llama-layout models only (SmolLM2); it exists to be
compared with, not used.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch


def _stats(logits: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    logp = torch.log_softmax(logits.float(), dim=-1)
    p = logp.exp()
    return {
        "logp": logp,
        "nll": -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1),
        "entropy": -(p * logp).nan_to_num().sum(-1),
        "argmax": logp.argmax(-1),
    }


@torch.no_grad()
def naive_lens_and_tokens(
    model: torch.nn.Module, windows: torch.Tensor, batch: int
) -> dict[str, Any]:
    """Per-token stats and the lens on every token of every layer; keeps every hidden state."""
    norm, lm_head = model.model.norm, model.lm_head  # type: ignore[union-attr]
    n, t = windows.shape
    cfg = model.config  # type: ignore[union-attr]
    num_layers, width = cfg.num_hidden_layers, cfg.hidden_size
    hidden = [torch.zeros(n, t, width) for _ in range(num_layers + 1)]
    names = ("nll", "entropy", "kl", "agree")
    lens = {k: np.zeros((num_layers + 1, n, t - 1), np.float32) for k in names}
    tokens = {k: np.zeros((n, t - 1), np.float32) for k in ("nll", "entropy")}
    # hidden_states[L] has the final norm applied; the pre-norm residual comes from a hook.
    last_out: list[torch.Tensor] = []
    seconds = {"forward+tokens": 0.0}
    handle = model.model.layers[-1].register_forward_hook(  # type: ignore[union-attr]
        lambda _m, _a, out: last_out.append(out[0] if isinstance(out, tuple) else out)
    )
    try:
        for s in range(0, n, batch):
            ids = windows[s : s + batch]
            last_out.clear()
            clock = time.perf_counter()
            out = model(input_ids=ids, output_hidden_states=True)
            targets = ids[:, 1:]
            final = _stats(out.logits[:, :-1], targets)
            tokens["nll"][s : s + batch] = final["nll"].numpy()
            tokens["entropy"][s : s + batch] = final["entropy"].numpy()
            p_final = final["logp"].exp()
            seconds["forward+tokens"] += time.perf_counter() - clock
            for layer in range(num_layers + 1):
                clock = time.perf_counter()
                states = out.hidden_states[layer] if layer < num_layers else last_out[0]
                hidden[layer][s : s + batch] = states
                z = lm_head(norm(states)) if layer < num_layers else out.logits
                st = _stats(z[:, :-1], targets)
                lens["nll"][layer, s : s + batch] = st["nll"].numpy()
                lens["entropy"][layer, s : s + batch] = st["entropy"].numpy()
                kl = (p_final * (final["logp"] - st["logp"])).sum(-1)
                lens["kl"][layer, s : s + batch] = kl.numpy()
                agree = (st["argmax"] == final["argmax"]).float()
                lens["agree"][layer, s : s + batch] = agree.numpy()
                seconds[f"lens{layer}"] = seconds.get(f"lens{layer}", 0.0) + (
                    time.perf_counter() - clock
                )
    finally:
        handle.remove()
    return {"hidden": hidden, "lens": lens, "tokens": tokens, "seconds": seconds}


def _whitened_basis(h: torch.Tensor, eps: float) -> torch.Tensor:
    hc = h.double() - h.double().mean(0)
    n, d = hc.shape
    evals, evecs = torch.linalg.eigh(hc.T @ hc / n)
    floor = eps * float(evals.clamp_min(0).sum()) / d
    keep = evals > floor
    q, r = torch.linalg.qr(hc @ evecs[:, keep] / torch.sqrt(evals[keep] + floor))
    diag = r.diagonal().abs()
    return q[:, diag > diag.max() * 1e-10]


@torch.no_grad()
def naive_spectral(
    hidden: dict[int, torch.Tensor],
    y: torch.Tensor,
    unembed: torch.Tensor,
    head_logits: Any,
    *,
    beta: float = 1.0,
    rank: int = 256,
    ridge_eps: float = 1e-6,
) -> dict[str, Any]:
    """Dense kernels, full eigendecompositions, alignment per layer, effective rank."""
    last = max(hidden)
    n = y.shape[0]
    u = unembed.double()
    norms = u.norm(dim=1, keepdim=True)
    g = torch.where(norms > 0, u / norms.clamp_min(1e-300), 0.0)
    p = torch.softmax(head_logits(hidden[last]).double(), -1)  # P [N, |V|], whole
    g_bar = p @ g
    g_data = g[y]
    k_bc = (p.sqrt() @ p.sqrt().T).clamp(0, 1)
    kernels = {
        ("proto", "data"): g_data @ g_data.T,
        ("lin", "data"): (y[:, None] == y[None, :]).double(),
        ("proto", "model"): g_bar @ g_bar.T,
        ("lin", "model"): p @ p.T,
        ("bc", "model"): k_bc,
        ("hel", "model"): torch.exp(-beta * 2 * (1 - k_bc)),
    }
    j = torch.eye(n, dtype=torch.float64) - 1.0 / n
    spectra, centred = {}, {}
    for key, k in kernels.items():
        spectra[key] = torch.linalg.eigvalsh(k).flip(0)[:rank].clamp_min(0) / n
        kc = j @ k @ j
        centred[key] = (kc, torch.linalg.eigvalsh(kc).flip(0).clamp_min(0))
    align, eff_rank = {}, {}
    for layer, h in hidden.items():
        q = _whitened_basis(h, ridge_eps)
        d_eff = q.shape[1]
        for key, (kc, lam) in centred.items():
            top = float(lam[:d_eff].sum())
            a = float(torch.trace(q.T @ kc @ q)) / top
            a_rand = d_eff / (n - 1) * float(torch.trace(kc)) / top
            align[(layer, *key)] = (min(a, 1.0), a / a_rand)
        hc = h.double() - h.double().mean(0)
        lam_h = torch.linalg.eigvalsh(hc.T @ hc / n).clamp_min(0)
        qd = lam_h[lam_h > 0] / lam_h.sum()
        eff_rank[layer] = math.exp(float(-(qd * qd.log()).sum()))
    return {"spectra": spectra, "alignment": align, "effective_rank": eff_rank}

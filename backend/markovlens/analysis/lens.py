"""Per-layer logit lens on the sampled contexts, with the fidelity check.

``p^ℓ = softmax(U·norm(h^ℓ))`` recomputes the model's own final norm on each layer's residual
stream. Contexts go through in chunks, so no temporary exceeds ``chunk × |V|``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from markovlens.analysis.head import HeadSpec
from markovlens.schema.lens import LensFidelity, LensLayer, LensSuite

ProgressFn = Callable[[float, str], None]


class LensFidelityError(RuntimeError):
    """The lens at the last layer does not reproduce the model's logits: wiring is wrong."""


def default_tolerance(dtype: torch.dtype) -> float:
    """1e-4 in fp32/fp64 (docs/methods.md#lens); reduced-precision models round their own logits."""
    return 1e-4 if dtype in (torch.float32, torch.float64) else 3e-2


def relative_error(lens_logits: torch.Tensor, model_logits: torch.Tensor) -> float:
    """max over rows of ‖Δ‖∞ / ‖z‖∞ (scale-free; elementwise ratios blow up near 0)."""
    diff = (lens_logits.double() - model_logits.double()).abs().amax(dim=-1)
    scale = model_logits.double().abs().amax(dim=-1).clamp_min(1e-12)
    return float((diff / scale).max()) if diff.numel() else 0.0


@torch.no_grad()
def check_fidelity(
    head: HeadSpec, last_hidden: torch.Tensor, model_logits: torch.Tensor, tolerance: float
) -> LensFidelity:
    """Lens at ℓ = L on the kept contexts against the model's own logits."""
    device = head.unembed.device
    lens_logits = head.logits(last_hidden.to(device)).float().cpu()
    err = relative_error(lens_logits, model_logits)
    return LensFidelity(
        num_contexts=int(model_logits.shape[0]),
        max_relative_error=err,
        tolerance=tolerance,
        passed=bool(err <= tolerance),
    )


@torch.no_grad()
def lens_suite(
    hidden: dict[int, torch.Tensor],
    head: HeadSpec,
    targets: torch.Tensor,
    fidelity: LensFidelity,
    h_y: float,
    *,
    chunk: int = 256,
    progress: ProgressFn | None = None,
    test_mask: torch.Tensor | None = None,
) -> tuple[LensSuite, dict[str, np.ndarray]]:
    """Lens statistics per captured layer; also per-context arrays [layers, N] for storage.

    ``head`` runs on its own device/dtype (fp32 recommended); ``targets`` [N] are y_t.
    ``h_y`` is the held-out marginal's CE on the ``test_mask`` contexts (all when None): the
    predictive information H(Y) − CE^ℓ averages CE^ℓ over those same contexts.
    """
    layers = sorted(hidden)
    last = layers[-1]
    n = int(targets.shape[0])
    device = head.unembed.device
    per: dict[str, np.ndarray] = {
        name: np.zeros((len(layers), n), dtype=np.float32) for name in _ARRAYS
    }
    # The lens's own top-1 per layer and its probability: the token view's hover.
    top1 = np.zeros((len(layers), n), dtype=np.int32)
    top1_prob = np.zeros((len(layers), n), dtype=np.float32)
    for c0 in range(0, n, chunk):
        c1 = min(n, c0 + chunk)
        y = targets[c0:c1].to(device)
        logp_last, p_last, top_last, top_logp_last = _log_softmax(
            head.logits(hidden[last][c0:c1].to(device)).float()
        )
        ent_last = -(p_last * logp_last).sum(-1)
        for i, layer in enumerate(layers):
            if layer == last:
                logp, top, top_logp, ent = logp_last, top_last, top_logp_last, ent_last
                kl = torch.zeros_like(ent_last)  # KL(p^L ‖ p^L), exactly as the sum gave it
            else:
                logp, p, top, top_logp = _log_softmax(
                    head.logits(hidden[layer][c0:c1].to(device)).float()
                )
                # In place from here: each [chunk, |V|] pass is memory-bound, a fresh one also
                # page-faults its pages in; p and log p are not needed after these sums.
                ent = -p.mul_(logp).sum(-1)
                del p
            nll = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1)
            if layer != last:
                kl = logp.sub_(logp_last).mul_(p_last).sum(-1).neg_()
                del logp
            values = {
                "lens_nll": nll,
                "lens_entropy": ent,
                "lens_kl_to_last": kl.clamp_min(0.0),
                "lens_agree": (top == top_last).float(),
                "lens_hit": (top == y).float(),
            }
            for name, value in values.items():
                per[name][i, c0:c1] = value.cpu().numpy()
            top1[i, c0:c1] = top.cpu().numpy()
            top1_prob[i, c0:c1] = top_logp.exp().cpu().numpy()
            if progress is not None:  # per layer: one chunk × all layers can take many seconds
                progress((c0 + (c1 - c0) * (i + 1) / len(layers)) / n, "lens")
    test = np.ones(n, dtype=bool) if test_mask is None else test_mask.numpy().astype(bool)
    if not test.any():
        test = np.ones(n, dtype=bool)
    summary = [
        LensLayer(
            layer=layer,
            mean_entropy=float(per["lens_entropy"][i].mean()),
            mean_nll=float(per["lens_nll"][i].mean()),
            mean_kl_to_last=float(per["lens_kl_to_last"][i].mean()),
            top1_agreement=float(per["lens_agree"][i].mean()),
            top1_accuracy=float(per["lens_hit"][i].mean()),
            predictive_info=float(h_y - per["lens_nll"][i][test].mean()),
        )
        for i, layer in enumerate(layers)
    ]
    suite = LensSuite(layers=summary, fidelity=fidelity, unigram_entropy=h_y, num_contexts=n)
    per["lens_layers"] = np.asarray(layers, dtype=np.int32)
    per["lens_top1"] = top1
    per["lens_top1_prob"] = top1_prob
    return suite, per


def _log_softmax(
    logits: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """log p, p, argmax and log p of the argmax of ``logits`` [n, |V|] (overwritten in place).

    One max pass gives the argmax and its value; exp runs once (log_softmax, then exp, then
    entr ran it three times), and no op allocates more than p beside the logits.
    """
    top_val, top = logits.max(-1, keepdim=True)
    logp = logits.sub_(top_val)  # ≤ 0, the argmax at 0
    p = logp.exp()
    log_total = p.sum(-1, keepdim=True).log_()
    logp.sub_(log_total)
    p.mul_(torch.exp(-log_total))
    # exp(log p) is 0 only where log p ≈ −inf: a floor keeps 0·log 0 = 0 in the sums.
    logp.clamp_min_(torch.finfo(logp.dtype).min)
    return logp, p, top.squeeze(-1), -log_total.squeeze(-1)


_ARRAYS = ("lens_nll", "lens_entropy", "lens_kl_to_last", "lens_agree", "lens_hit")

"""The summary numbers compared across runs (CPU fp32 vs GPU bf16, trained vs random-init)."""

from __future__ import annotations

from typing import Any


def summarize(result: Any) -> dict[str, Any]:
    """Flat dict of headline numbers from an AnalysisResult (absent sections give None)."""
    s = result.entropy.summary
    out: dict[str, Any] = {
        "mean_nll": s.mean_nll.estimate,
        "mean_nll_ci": [s.mean_nll.low, s.mean_nll.high],
        "perplexity": s.perplexity,
        "mean_entropy": s.mean_entropy.estimate,
        "calibration_gap": s.calibration_gap.estimate,
        "calibration_gap_ci": [s.calibration_gap.low, s.calibration_gap.high],
        "top1_accuracy": s.top1_accuracy,
        "ece": result.entropy.calibration.ece if result.entropy.calibration else None,
        "unigram_entropy": result.entropy.unigram_entropy,
    }
    if result.lens is not None:
        out["lens_fidelity_rel_err"] = result.lens.fidelity.max_relative_error
        out["lens_nll_by_layer"] = {x.layer: x.mean_nll for x in result.lens.layers}
        out["lens_kl_by_layer"] = {x.layer: x.mean_kl_to_last for x in result.lens.layers}
        out["predictive_info_by_layer"] = {x.layer: x.predictive_info for x in result.lens.layers}
    spectral = result.spectral
    if spectral is not None:
        last = max(spectral.layers)
        out["alignment_lift"] = {
            f"{a.side}/{a.kernel}/{a.layer}": a.lift for a in spectral.alignment
        }
        out["alignment_lift_interval"] = {
            f"{a.side}/{a.kernel}/{a.layer}": [a.lift_interval.low, a.lift_interval.high]
            for a in spectral.alignment
            if a.lift_interval is not None
        }
        out["alignment_lift_last_data_proto"] = next(
            (a.lift for a in spectral.alignment
             if a.layer == last and a.kernel == "proto" and a.side == "data"), None,
        )  # fmt: skip
        out["alignment_last_model_proto"] = next(
            (a.alignment for a in spectral.alignment
             if a.layer == last and a.kernel == "proto" and a.side == "model"), None,
        )  # fmt: skip
        out["effective_rank_by_layer"] = {
            r.layer: r.effective_rank for r in spectral.representation
        }
        out["heldout_r2_by_layer"] = {h.layer: h.r2 for h in spectral.heldout}
    surplus = result.surplus
    if surplus is not None:
        out["surplus"] = surplus.model_dump(mode="json")
    return out

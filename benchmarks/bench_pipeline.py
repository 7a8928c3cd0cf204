"""Benchmark 2: the pipeline versus the naive baseline (benchmarks/naive.py), same workload.

Pipeline = run_analysis with the standard preset's knobs at ``--max-tokens`` (N = tokens/8,
the standard density), surplus probes off in both (they are the same code either way).
The naive baseline keeps every layer's hidden state for every token, runs the full-vocabulary
lens on every token of every layer, materialises P and eigendecomposes every N×N kernel densely.
Numbers are compared on the pipeline's captured layers and sampled contexts.

    .venv/bin/python benchmarks/bench_pipeline.py --max-tokens 4096
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from markovlens.analysis.architecture import introspect
from markovlens.analysis.pipeline import run_analysis
from markovlens.schema.config import preset_config

from benchmarks.common import PeakRSS, load_workload, mib, report
from benchmarks.naive import naive_lens_and_tokens, naive_spectral


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-tokens", type=int, default=4096)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    cfg = preset_config(
        "standard", max_tokens=args.max_tokens, n_contexts=args.max_tokens // 8,
        run_surplus=False,
    )  # fmt: skip
    work = load_workload(window_len=cfg.window_len, max_tokens=cfg.max_tokens)
    model, windows = work.model, work.windows

    with PeakRSS() as mem_pipe:
        start = time.perf_counter()
        out = run_analysis(model, windows, cfg, work.model_meta, work.corpus_meta)
        t_pipe = time.perf_counter() - start
    res, arrays = out.result, out.arrays
    batch = int(res.provenance.notes[-1].split()[3])  # "capture batch size B windows"
    assert res.lens is not None and res.spectral is not None and res.contexts is not None
    layers = res.contexts.layers

    with PeakRSS() as mem_naive:
        start = time.perf_counter()
        naive = naive_lens_and_tokens(model, windows, batch)
        w = torch.from_numpy(arrays["context_window"]).long()
        t = torch.from_numpy(arrays["context_position"]).long()
        hidden = {layer: naive["hidden"][layer][w, t] for layer in layers}
        y = windows[w, t + 1]
        head = introspect(model).head
        clock = time.perf_counter()
        spec = naive_spectral(
            hidden, y, head.unembed, head.logits, beta=cfg.spectral.beta,
            rank=cfg.spectral.rank, ridge_eps=cfg.spectral.ridge_eps,
        )  # fmt: skip
        naive["seconds"]["spectral"] = time.perf_counter() - clock
        t_naive = time.perf_counter() - start
    secs = naive["seconds"]
    # Like-for-like variant: the naive lens only on the pipeline's layers.
    t_naive_same_layers = t_naive - sum(
        v for k, v in secs.items() if k.startswith("lens") and int(k[4:]) not in layers
    )

    # --- numbers: per-token summary (every token, both) ---
    s = res.entropy.summary
    checks: dict[str, float] = {
        "mean_nll_rel": rel(s.mean_nll.estimate, float(naive["tokens"]["nll"].mean())),
        "mean_entropy_rel": rel(s.mean_entropy.estimate, float(naive["tokens"]["entropy"].mean())),
    }
    # --- lens: at the sampled contexts (must agree), and sampled vs every-token means ---
    wn, tn = arrays["context_window"], arrays["context_position"]
    lens_rows = []
    for i, layer in enumerate(layers):
        at_ctx = naive["lens"]["nll"][layer][wn, tn]
        lens_rows.append({
            "layer": layer,
            "nll_sampled": float(arrays["lens_nll"][i].mean()),
            "nll_every_token": float(naive["lens"]["nll"][layer].mean()),
            "kl_sampled": float(arrays["lens_kl_to_last"][i].mean()),
            "kl_every_token": float(naive["lens"]["kl"][layer].mean()),
            "max_abs_diff_at_contexts": float(np.abs(at_ctx - arrays["lens_nll"][i]).max()),
        })  # fmt: skip
    checks["lens_nll_max_abs_diff_at_contexts"] = max(
        r["max_abs_diff_at_contexts"] for r in lens_rows
    )
    checks["lens_nll_sampled_vs_every_token_max_rel"] = max(
        rel(r["nll_sampled"], r["nll_every_token"]) for r in lens_rows
    )
    # --- spectral: eigenvalues, alignment, lift, effective rank ---
    spec_rel = []
    for sp in res.spectral.spectra:
        ref = spec["spectra"][(sp.kernel, sp.side)].numpy()
        k = min(len(sp.eigenvalues), 16)
        spec_rel.append(float(np.max(np.abs(np.array(sp.eigenvalues[:k]) - ref[:k]) / ref[0])))
    checks["top16_eigenvalues_max_rel_to_lambda1"] = max(spec_rel)
    a_diff, lift_rel = [], []
    for al in res.spectral.alignment:
        a_ref, lift_ref = spec["alignment"][(al.layer, al.kernel, al.side)]
        a_diff.append(abs(al.alignment - a_ref))
        lift_rel.append(rel(al.lift, lift_ref))
    checks["alignment_max_abs_diff"] = max(a_diff)
    checks["lift_max_rel_diff"] = max(lift_rel)
    checks["effective_rank_max_rel_diff"] = max(
        rel(r.effective_rank, spec["effective_rank"][r.layer]) for r in res.spectral.representation
    )
    out_json = {
        "tokens": int(windows.numel()),
        "n_contexts": cfg.n_contexts,
        "layers": layers,
        "batch_windows": batch,
        "pipeline_seconds": t_pipe,
        "pipeline_stage_seconds": res.provenance.stage_seconds,
        "naive_seconds": t_naive,
        "naive_same_layers_seconds": t_naive_same_layers,
        "naive_stage_seconds": {
            "forward+tokens": secs["forward+tokens"],
            "lens_all_layers": sum(v for k, v in secs.items() if k.startswith("lens")),
            "spectral": secs["spectral"],
        },
        "speed_ratio": t_naive / t_pipe,
        "speed_ratio_same_layers": t_naive_same_layers / t_pipe,
        "pipeline_peak_increase_bytes": mem_pipe.increase,
        "naive_peak_increase_bytes": mem_naive.increase,
        "memory_ratio": mem_naive.increase / max(1, mem_pipe.increase),
        "checks": checks,
        "lens_rows": lens_rows,
    }
    report(
        out_json,
        f"naive/pipeline time {out_json['speed_ratio']:.2f}× (same layers "
        f"{out_json['speed_ratio_same_layers']:.2f}×); peak memory {mib(mem_naive.increase)} vs "
        f"{mib(mem_pipe.increase)}",
        args.json,
    )


if __name__ == "__main__":
    main()

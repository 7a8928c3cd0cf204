"""Benchmark 3: peak memory of the pipeline when the corpus doubles (target: < 10% growth).

Each corpus size runs in a fresh process (ru_maxrss cannot be reset), with the same N, layers,
batch size and seed; reported: the process's peak RSS (model weights included) and the peak
above the level right after loading the model and corpus. Surplus probes are off (their memory
depends on N only, not on the corpus); so is the spectral suite unless ``--spectral``.

    .venv/bin/python benchmarks/bench_corpus_scaling.py --tokens 4096 8192
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import PeakRSS, load_workload, mib, report


def child(
    tokens: int, preset: str, n_contexts: int, batch: int, spectral: bool
) -> dict[str, float]:
    from markovlens.analysis.pipeline import run_analysis
    from markovlens.schema.config import preset_config

    cfg = preset_config(
        preset, max_tokens=tokens, n_contexts=n_contexts, batch_size=batch, run_surplus=False,
        run_spectral=spectral,
    )  # fmt: skip
    work = load_workload(window_len=cfg.window_len, max_tokens=cfg.max_tokens)
    with PeakRSS() as mem:
        start = time.perf_counter()
        run_analysis(work.model, work.windows, cfg, work.model_meta, work.corpus_meta)
        seconds = time.perf_counter() - start
    return {
        "tokens": int(work.windows.numel()),
        "seconds": seconds,
        "peak_increase_bytes": mem.increase,
        "process_peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, nargs=2, default=[4096, 8192])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--n-contexts", type=int, default=512)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--child", type=int, default=None)
    parser.add_argument("--spectral", action="store_true", help="Include the spectral suite.")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(
            child(args.child, args.preset, args.n_contexts, args.batch, args.spectral)
        ))  # fmt: skip
        return
    runs = []
    for tokens in args.tokens:
        cmd = [sys.executable, __file__, "--child", str(tokens), "--preset", args.preset,
               "--n-contexts", str(args.n_contexts), "--batch", str(args.batch)]  # fmt: skip
        if args.spectral:
            cmd.append("--spectral")
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    small, big = runs
    out = {
        "preset": args.preset,
        "n_contexts": args.n_contexts,
        "batch_windows": args.batch,
        "spectral": args.spectral,
        "runs": runs,
        "process_peak_growth": big["process_peak_rss_bytes"] / small["process_peak_rss_bytes"] - 1,
        "above_baseline_growth": big["peak_increase_bytes"] / small["peak_increase_bytes"] - 1,
    }
    report(
        out,
        f"corpus ×{big['tokens'] / small['tokens']:.1f}: process peak "
        f"{mib(small['process_peak_rss_bytes'])} → {mib(big['process_peak_rss_bytes'])} "
        f"({100 * out['process_peak_growth']:+.1f}%), above baseline "
        f"{mib(small['peak_increase_bytes'])} → {mib(big['peak_increase_bytes'])} "
        f"({100 * out['above_baseline_growth']:+.1f}%)",
        args.json,
    )


if __name__ == "__main__":
    main()

"""Benchmark 1: the capture pass versus a bare ``model(input_ids)`` over the same tokens/batch.

Both walk the same windows with the same batch size (the one capture picks for this machine);
runs alternate (bare, capture, bare, capture, …) so that load from other processes hits both,
and the best of ``--repeats`` is kept. Memory: peak RSS above the level before the run.

    .venv/bin/python benchmarks/bench_capture.py --max-tokens 4096
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from markovlens.analysis.capture import capture_pass
from markovlens.schema.config import preset_config

from benchmarks.common import PeakRSS, bare_forward, capture_setup, load_workload, mib, report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-tokens", type=int, default=4096)
    parser.add_argument("--preset", default="standard")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    cfg = preset_config(
        args.preset, max_tokens=args.max_tokens,
        n_contexts=max(64, args.max_tokens // 8),  # the standard preset's density: N = tokens/8
    )  # fmt: skip
    work = load_workload(window_len=cfg.window_len, max_tokens=cfg.max_tokens)
    model, windows = work.model, work.windows
    setup = capture_setup(model, windows, cfg)
    arch, layers, plan, batch = setup.arch, setup.layers, setup.plan, setup.batch
    bare_forward(model, windows[:1], 1)  # warm-up (allocator, kernels)
    times: dict[str, list[float]] = {"bare": [], "capture": []}
    peaks: dict[str, int] = {"bare": 0, "capture": 0}
    for _ in range(args.repeats):
        for name in ("bare", "capture"):
            with PeakRSS() as mem:
                start = time.perf_counter()
                if name == "bare":
                    bare_forward(model, windows, batch)
                else:
                    capture_pass(model, windows, arch, layers, plan, batch_size=batch)
                times[name].append(time.perf_counter() - start)
            peaks[name] = max(peaks[name], mem.increase)
    tokens = windows.numel()
    out = {
        "tokens": tokens,
        "windows": list(windows.shape),
        "batch_windows": batch,
        "layers_captured": len(layers),
        "n_contexts": cfg.n_contexts,
        "torch_threads": torch.get_num_threads(),
        "bare_seconds": times["bare"],
        "capture_seconds": times["capture"],
        "time_ratio": min(times["capture"]) / min(times["bare"]),
        "bare_tokens_per_s": tokens / min(times["bare"]),
        "capture_tokens_per_s": tokens / min(times["capture"]),
        "bare_peak_increase_bytes": peaks["bare"],
        "capture_peak_increase_bytes": peaks["capture"],
        "memory_ratio": peaks["capture"] / max(1, peaks["bare"]),
    }
    report(
        out,
        f"capture/bare wall time {out['time_ratio']:.3f} (target ≤ 1.3); peak memory above "
        f"baseline {mib(peaks['capture'])} vs {mib(peaks['bare'])} = {out['memory_ratio']:.2f}×",
        args.json,
    )


if __name__ == "__main__":
    main()

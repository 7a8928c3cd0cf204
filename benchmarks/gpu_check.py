"""GPU check: SmolLM2 in bf16 on CUDA — capture vs bare forward throughput, the pipeline's
summary numbers against the CPU fp32 run (benchmarks/data/smollm2_standard_cpu.json), and the
quick pipeline on the model spread by a device map (across the GPUs, or GPU 0 and the CPU on a
one-GPU machine) against the same model on one device.

Run through benchmarks/gpu_check.sh on a machine with a CUDA GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from markovlens.analysis.capture import capture_pass
from markovlens.analysis.pipeline import run_analysis
from markovlens.schema.config import preset_config

from benchmarks.common import bare_forward, capture_setup, load_workload
from benchmarks.summary import summarize


def _sync_time(fn, repeats: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


SPLIT_KEYS = ("mean_nll", "mean_entropy", "calibration_gap", "top1_accuracy",
              "alignment_lift_last_data_proto")  # fmt: skip


def split_check(dtype: str) -> dict[str, object]:
    """The quick pipeline on one GPU and on a device map that splits the blocks between
    devices: capture hooks, logits and the head must work across the boundary."""
    from accelerate import dispatch_model, infer_auto_device_map

    cfg = preset_config("quick")
    one = load_workload(window_len=cfg.window_len, max_tokens=cfg.max_tokens,
                        device="cuda", dtype=dtype)  # fmt: skip
    single = run_analysis(one.model, one.windows, cfg, one.model_meta, one.corpus_meta).result
    del one
    torch.cuda.empty_cache()
    work = load_workload(window_len=cfg.window_len, max_tokens=cfg.max_tokens,
                         device="cpu", dtype=dtype)  # fmt: skip
    weights = sum(p.numel() * p.element_size() for p in work.model.parameters())
    gpus = torch.cuda.device_count()
    # Caps that force a split: each GPU holds its share (one GPU: half, the rest on the CPU).
    share = weights // (gpus if gpus > 1 else 2) + (64 << 20)
    max_memory: dict[int | str, int] = {i: share for i in range(gpus)}
    if gpus == 1:
        max_memory["cpu"] = 4 * weights
    no_split = work.model._no_split_modules
    device_map = infer_auto_device_map(work.model, max_memory=max_memory,
                                       no_split_module_classes=no_split)  # fmt: skip
    model = dispatch_model(work.model, device_map=device_map)
    start = time.perf_counter()
    split = run_analysis(model, work.windows, cfg, work.model_meta, work.corpus_meta).result
    seconds = time.perf_counter() - start
    a, b = summarize(single), summarize(split)
    return {
        "devices": sorted({str(d) for d in device_map.values()}),
        "provenance_device": split.provenance.device,
        "split_pipeline_seconds": seconds,
        "one_device_vs_split": {k: {"one": a.get(k), "split": b.get(k)} for k in SPLIT_KEYS},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cpu-reference", type=Path,
                        default=Path("benchmarks/data/smollm2_standard_cpu.json"))  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    parser.add_argument("--dtype", default="bfloat16")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu_check: torch.cuda.is_available() is False on this machine")
    cfg = preset_config("standard")
    work = load_workload(window_len=cfg.window_len, max_tokens=cfg.max_tokens,
                         device="cuda", dtype=args.dtype)  # fmt: skip
    model, windows = work.model, work.windows
    setup = capture_setup(model, windows, cfg)
    batch = setup.batch
    gpu_windows = windows.to("cuda")

    def bare() -> None:
        bare_forward(model, gpu_windows, batch)

    def capture() -> None:
        capture_pass(model, windows, setup.arch, setup.layers, setup.plan, batch_size=batch)

    bare()  # warm-up: kernels, allocator
    t_bare, t_capture = _sync_time(bare), _sync_time(capture)
    tokens = windows.numel()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = run_analysis(model, windows, cfg, work.model_meta, work.corpus_meta).result
    t_pipeline = time.perf_counter() - start
    gpu = summarize(result)
    report = {
        "device": torch.cuda.get_device_name(0),
        "dtype": args.dtype,
        "tokens": tokens,
        "batch_windows": batch,
        "bare_tokens_per_s": tokens / t_bare,
        "capture_tokens_per_s": tokens / t_capture,
        "capture_over_bare_time": t_capture / t_bare,
        "pipeline_seconds": t_pipeline,
        "pipeline_stage_seconds": result.provenance.stage_seconds,
        "peak_cuda_bytes": result.provenance.peak_memory_bytes,
        "lens_fidelity": result.lens.fidelity.model_dump() if result.lens else None,
        "gpu_summary": gpu,
    }
    if args.cpu_reference.exists():
        cpu = json.loads(args.cpu_reference.read_text())
        diffs = {}
        for key in ("mean_nll", "mean_entropy", "calibration_gap", "top1_accuracy", "ece",
                    "alignment_lift_last_data_proto", "alignment_last_model_proto"):  # fmt: skip
            if cpu.get(key) is not None and gpu.get(key) is not None:
                diffs[key] = {"cpu_fp32": cpu[key], "gpu": gpu[key], "diff": gpu[key] - cpu[key]}
        for key in ("effective_rank_by_layer", "lens_nll_by_layer"):
            c, g = cpu.get(key) or {}, gpu.get(key) or {}
            common = sorted(set(map(str, c)) & set(map(str, g)), key=int)
            diffs[key] = {k: {"cpu_fp32": c[k], "gpu": g[int(k)] if int(k) in g else g[k]}
                          for k in common}  # fmt: skip
        report["cpu_vs_gpu"] = diffs
    else:
        report["cpu_vs_gpu"] = f"no CPU reference at {args.cpu_reference}"
    report["device_map_split"] = split_check(args.dtype)
    text = json.dumps(report, indent=2, default=str)
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()

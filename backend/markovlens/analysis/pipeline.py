"""run_analysis: one model, token windows and a config in; an AnalysisOutput out."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from importlib import metadata

import numpy as np
import torch

from markovlens.analysis.config import AnalysisConfig
from markovlens.analysis.entropy import summarize_entropy, token_stats
from markovlens.analysis.results import (
    AnalysisOutput,
    AnalysisResult,
    CorpusMeta,
    ModelMeta,
    Provenance,
)

ProgressFn = Callable[[float, str], None]


def _noop_progress(fraction: float, stage: str) -> None:
    return None


def library_versions() -> dict[str, str]:
    """Versions of the libraries a number depends on."""
    versions = {"python": platform.python_version()}
    for name in ("markovlens", "torch", "transformers", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def _default_batch_size(window_len: int, vocab_size: int) -> int:
    # Logits dominate memory: keep one batch's fp32 logits (and their softmax) near 256 MiB.
    budget_floats = 256 * 1024 * 1024 // 4 // 3
    return max(1, min(64, budget_floats // max(1, window_len * vocab_size)))


@torch.no_grad()
def run_analysis(
    model: torch.nn.Module,
    windows: torch.Tensor,
    config: AnalysisConfig,
    model_meta: ModelMeta,
    corpus_meta: CorpusMeta,
    progress: ProgressFn | None = None,
) -> AnalysisOutput:
    """Analyse ``model`` on ``windows`` ([num_windows, window_len] token ids)."""
    report = progress or _noop_progress
    started = time.perf_counter()
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    model.eval()
    n_windows, window_len = windows.shape
    vocab_size = int(getattr(getattr(model, "config", None), "vocab_size", 50_000))
    batch_size = config.batch_size or _default_batch_size(window_len, vocab_size)

    names = ("nll", "entropy", "gini", "top1_hit", "top1_conf")
    collected: dict[str, list[np.ndarray]] = {name: [] for name in names}
    report(0.0, "forward")
    for start in range(0, n_windows, batch_size):
        batch = windows[start : start + batch_size].to(device)
        logits = model(input_ids=batch).logits[:, :-1]
        stats = token_stats(logits, batch[:, 1:])
        for name in names:
            collected[name].append(getattr(stats, name).cpu().numpy().astype(np.float32))
        report(min(n_windows, start + batch_size) / n_windows * 0.9, "forward")
    arrays = {name: np.concatenate(parts) for name, parts in collected.items()}
    forward_seconds = time.perf_counter() - started

    report(0.9, "aggregate")
    rng = np.random.default_rng(config.seed)
    entropy_suite = summarize_entropy(
        arrays["nll"],
        arrays["entropy"],
        arrays["gini"],
        arrays["top1_hit"],
        arrays["top1_conf"],
        config.bootstrap_samples,
        rng,
    )
    provenance = Provenance(
        model=model_meta,
        corpus=corpus_meta,
        config=config,
        seed=config.seed,
        versions=library_versions(),
        device=str(device),
        dtype=str(dtype).removeprefix("torch."),
        stage_seconds={
            "forward": forward_seconds,
            "aggregate": time.perf_counter() - started - forward_seconds,
        },
        peak_memory_bytes=_peak_memory_bytes(device),
    )
    report(1.0, "done")
    return AnalysisOutput(
        result=AnalysisResult(provenance=provenance, entropy=entropy_suite), arrays=arrays
    )


def _peak_memory_bytes(device: torch.device) -> int | None:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    try:
        import resource

        # ru_maxrss is KiB on Linux: the process's high-water mark, CPU tensors included.
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    except ImportError:  # pragma: no cover - non-POSIX
        return None

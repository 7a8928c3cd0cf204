"""Shared helpers of the benchmark scripts: load SmolLM2 and corpus windows the app's way."""

from __future__ import annotations

import json
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass
class Workload:
    model: torch.nn.Module
    windows: torch.Tensor
    model_meta: Any
    corpus_meta: Any
    reference: Any = None


def load_workload(
    model_source: str = "builtin:smollm2-135m",
    corpus_source: str = "builtin:python-docs",
    *,
    window_len: int = 256,
    max_tokens: int = 16_384,
    seed: int = 0,
    device: str | None = "cpu",
    dtype: str | None = "float32",
) -> Workload:
    """Model and windows through ``load_sources`` (as a job would)."""
    from markovlens.service.workflow import load_sources
    from markovlens.settings import get_settings

    sources = load_sources(
        model_source,
        corpus_source,
        get_settings(),
        window_len=window_len,
        max_tokens=max_tokens,
        seed=seed,
        device=device,
        dtype=dtype,
    )
    loaded, corpus = sources.loaded, sources.corpus
    return Workload(loaded.model, corpus.windows, loaded.meta, corpus.meta, corpus.reference)


def rss_peak_bytes() -> int:
    """Process high-water resident set (Linux ru_maxrss is KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


class PeakRSS:
    """Peak resident memory above the level at entry, sampled every ``interval`` seconds.

    ru_maxrss cannot be reset inside a process; a sampling thread can (torch releases the GIL
    in its kernels, so the sampler keeps running). Large tensors are mmapped by the allocator
    and returned on free, so RSS tracks live tensors closely.
    """

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.baseline = 0
        self.peak = 0
        self._stop = False
        self._thread: Any = None

    @staticmethod
    def current() -> int:
        import os

        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        while not self._stop:
            self.peak = max(self.peak, self.current())
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        import gc
        import threading

        gc.collect()
        self.baseline = self.peak = self.current()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._thread.join()
        self.peak = max(self.peak, self.current())

    @property
    def increase(self) -> int:
        return self.peak - self.baseline


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def report(out: dict[str, Any], summary: str, json_path: Path | None) -> None:
    """Print a benchmark's numbers as JSON, then its one-line summary; write the JSON if asked."""
    print(json.dumps(out, indent=2))
    print(summary)
    if json_path:
        json_path.write_text(json.dumps(out, indent=2))


@dataclass
class CaptureSetup:
    """What the capture pass needs beyond the model: the same choices a job makes."""

    arch: Any
    layers: list[int]
    plan: Any
    batch: int


def capture_setup(model: torch.nn.Module, windows: torch.Tensor, cfg: Any) -> CaptureSetup:
    """Architecture, captured layers, sampled contexts and the batch size for ``model``'s
    device, as ``run_analysis`` would choose them for ``cfg``."""
    from markovlens.analysis.architecture import introspect
    from markovlens.analysis.capture import default_batch_size, sample_contexts
    from markovlens.schema.config import select_layers

    arch = introspect(model)
    plan = sample_contexts(
        windows.shape[0], windows.shape[1], cfg.n_contexts,
        min_position=cfg.min_position, horizon=cfg.horizon, seed=cfg.seed,
    )  # fmt: skip
    vocab, width = (int(n) for n in arch.head.unembed.shape)
    device = next(model.parameters()).device
    batch = default_batch_size(windows.shape[1], vocab, width, device)
    return CaptureSetup(arch, select_layers(cfg, arch.num_layers), plan, batch)


def bare_forward(model: torch.nn.Module, windows: torch.Tensor, batch: int) -> None:
    """The baseline: ``model(input_ids)`` over ``windows`` in batches, nothing kept."""
    with torch.no_grad():
        for start in range(0, windows.shape[0], batch):
            model(input_ids=windows[start : start + batch])

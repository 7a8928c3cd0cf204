"""One pass over the corpus: per-token statistics for every token, hidden states at N contexts.

Forward hooks on the captured blocks copy out only the rows of the sampled contexts (never
``output_hidden_states``: that would keep every layer for every token). The model's logits are
reduced to per-token statistics window by window, in row chunks, so no temporary is larger than
``chunk × |V|``. Batch size adapts to memory and halves on an out-of-memory error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from markovlens.analysis.architecture import ModelArchitecture
from markovlens.analysis.capture.logits import allocate_token_arrays, reduce_logits
from markovlens.analysis.capture.plan import ContextPlan
from markovlens.analysis.capture.recorder import Recorder

ProgressFn = Callable[[float, str], None]


@dataclass
class CaptureOutput:
    """What one pass over the corpus produced."""

    token_arrays: dict[str, np.ndarray]  # [windows, T−1] each; "argmax" int32, others float32
    hidden: dict[int, torch.Tensor]  # layer -> [N, d] fp32 CPU
    fidelity_logits: torch.Tensor  # [m, V] fp32 CPU: the model's own logits at the first m contexts
    batch_size: int
    seconds: float
    oom_retries: int = 0
    notes: list[str] = field(default_factory=list)
    # layer -> [windows, T, d] CPU: every position of the ``full_layers`` (the surplus probes
    # train on every position of the train windows, not only the N contexts)
    full_states: dict[int, torch.Tensor] = field(default_factory=dict)


@torch.no_grad()
def capture_pass(
    model: nn.Module,
    windows: torch.Tensor,
    arch: ModelArchitecture,
    layers: list[int],
    plan: ContextPlan,
    *,
    batch_size: int | None = None,
    fidelity_contexts: int = 64,
    true_probs: np.ndarray | None = None,
    progress: ProgressFn | None = None,
    full_layers: tuple[int, ...] = (),
) -> CaptureOutput:
    """Run the model once over ``windows`` [n, T] and collect everything the suites need.

    ``layers`` are residual-stream indices (0 = input of the first block, L = output of the last
    block); ``full_layers`` are also kept at every position ([n, T, d]). ``true_probs``
    [n, T−1, V] (synthetic corpora) adds per-token KL(p*‖p), H(p*) and cross-entropy arrays.
    """
    started = time.perf_counter()
    device = next(model.parameters()).device
    n_windows, window_len = windows.shape
    vocab, width = (int(size) for size in arch.head.unembed.shape)
    if batch_size is None:
        batch_size = default_batch_size(window_len, vocab, width, device)
    sink = _Sink(
        arrays=allocate_token_arrays(n_windows, window_len - 1, true_probs),
        fidelity=torch.zeros(min(fidelity_contexts, plan.num_contexts), vocab),
        true_probs=true_probs,
    )
    ticks = _BlockProgress(max(1, n_windows * arch.num_layers), progress)
    full_shape = (n_windows, window_len)
    with Recorder(arch, layers, plan.num_contexts, ticks, tuple(full_layers), full_shape) as rec:
        batches = _Batches(model, windows, plan, rec, sink, ticks, device)
        batch_size, oom_retries = batches.run(batch_size)
    notes = []
    if oom_retries:
        notes.append(f"batch size halved {oom_retries} time(s) after out-of-memory errors")
    return CaptureOutput(
        token_arrays=sink.arrays,
        hidden=rec.captured(),
        full_states=dict(rec.full),
        fidelity_logits=sink.fidelity,
        batch_size=batch_size,
        seconds=time.perf_counter() - started,
        oom_retries=oom_retries,
        notes=notes,
    )


@dataclass
class _Sink:
    """Where the batches' logits end up: per-token arrays, the model's logits at the first
    contexts (for the lens fidelity check), and the true predictive when there is one."""

    arrays: dict[str, np.ndarray]
    fidelity: torch.Tensor  # [m, V]
    true_probs: np.ndarray | None


class _BlockProgress:
    """Counts block forwards (a block over a batch counts once per window) and reports the
    fraction done at most every 0.5 s; a batch redone after an OOM is not counted twice."""

    def __init__(self, total_blocks: int, progress: ProgressFn | None) -> None:
        self.total_blocks = total_blocks
        self.progress = progress
        self.blocks_done = 0
        self.batch_windows = 1
        self.last_report = 0.0
        self._batch_mark = 0

    def __call__(self) -> None:
        self.blocks_done += self.batch_windows
        now = time.perf_counter()
        if self.progress is not None and now - self.last_report > 0.5:
            self.last_report = now
            self.progress(min(1.0, self.blocks_done / self.total_blocks), "capture")

    def begin_batch(self, windows: int) -> None:
        self.batch_windows = windows
        self._batch_mark = self.blocks_done

    def rewind_batch(self) -> None:
        self.blocks_done = self._batch_mark


@dataclass
class _Batches:
    """The windows through the model a batch at a time, halving the batch on out-of-memory."""

    model: nn.Module
    windows: torch.Tensor
    plan: ContextPlan
    recorder: Recorder
    sink: _Sink
    ticks: _BlockProgress
    device: torch.device

    def run(self, batch_size: int) -> tuple[int, int]:
        """(final batch size, out-of-memory retries) after every window went through."""
        n_windows = int(self.windows.shape[0])
        oom_retries = 0
        start = 0
        while start < n_windows:
            stop = min(n_windows, start + batch_size)
            rows = self.recorder.select(self.plan, start, stop, self.device)
            self.ticks.begin_batch(stop - start)
            try:
                self._forward(start, stop, rows)
            except (RuntimeError, torch.cuda.OutOfMemoryError) as exc:
                if not _is_oom(exc) or batch_size == 1:
                    raise
                # Adapt: halve the batch and redo it (hooks write rows by index: idempotent).
                batch_size = max(1, batch_size // 2)
                oom_retries += 1
                self._recover()
                continue
            start = stop
        return batch_size, oom_retries

    def _forward(self, start: int, stop: int, rows: torch.Tensor) -> None:
        """One batch: hooks record the plan's ``rows``, logits become per-token statistics."""
        batch = self.windows[start:stop].to(self.device)
        logits = self.model(input_ids=batch, use_cache=False).logits
        # Spread models return logits on the head's device, not the input's.
        reduce_logits(
            logits, batch.to(logits.device), start, self.sink.arrays, self.sink.true_probs
        )
        fid_rows = rows[rows < self.sink.fidelity.shape[0]]
        if fid_rows.numel():
            b = (self.plan.window_index[fid_rows] - start).to(logits.device)
            t = self.plan.position[fid_rows].to(logits.device)
            self.sink.fidelity[fid_rows] = logits[b, t].float().cpu()

    def _recover(self) -> None:
        """After an out-of-memory error: forget the failed batch's ticks, free the cache."""
        self.ticks.rewind_batch()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def default_batch_size(
    window_len: int, vocab_size: int, hidden_size: int, device: torch.device
) -> int:
    """Windows per batch so that logits and activations fit a memory budget.

    Budget: on CUDA a third of the free memory; on CPU a quarter of the available RAM, capped
    at 1 GiB (larger batches buy no speed on CPU). Per window: fp32-sized logits plus ~24
    activation rows of width d and the row-chunk temporaries.
    """
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        budget = free // 3
    else:
        budget = min(_available_ram_bytes() // 4, 1 << 30)
    per_window = window_len * (vocab_size * 4 + hidden_size * 4 * 24)
    return max(1, min(256, int(budget // max(1, per_window))))


def _available_ram_bytes() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()

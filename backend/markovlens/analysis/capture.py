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
from typing import Any

import numpy as np
import torch
from torch import nn

from markovlens.analysis.architecture import ModelArchitecture
from markovlens.analysis.entropy import token_stats
from markovlens.analysis.splits import SplitScheme, window_splits
from markovlens.analysis.tokens import TOPK, TOPK_IDS, TOPK_PROBS, topk_of

ProgressFn = Callable[[float, str], None]
TOKEN_FLOAT_ARRAYS = ("nll", "entropy", "gini", "top1_hit", "top1_conf")
EXACT_ARRAYS = ("exact_kl", "exact_true_entropy", "exact_cross_entropy")
_ROW_CHUNK = 512  # rows of logits reduced at once: bounds temporaries at chunk × |V|


@dataclass
class ContextPlan:
    """Which contexts to capture: sorted (window, position) pairs with a probe split by window."""

    window_index: torch.Tensor  # [N] int64
    position: torch.Tensor  # [N] int64
    split: torch.Tensor  # [N] int8: 0 train, 1 val, 2 test
    horizon: int

    @property
    def num_contexts(self) -> int:
        return int(self.window_index.shape[0])


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


def sample_contexts(
    num_windows: int,
    window_len: int,
    num_contexts: int,
    *,
    min_position: int,
    horizon: int,
    seed: int,
    split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    split: SplitScheme = "blocks",
) -> ContextPlan:
    """Spread ``num_contexts`` over windows as evenly as possible, positions without replacement.

    Positions t satisfy ``min_position ≤ t`` and ``t + horizon ≤ window_len − 1`` so that
    y_t … y_{t+horizon−1} all exist. Windows are split into probe-train / val / test, as
    contiguous blocks of windows (``split="blocks"``) or one by one (``"random"``); the
    contexts themselves do not depend on the scheme.
    """
    if num_windows < 3:
        raise ValueError(
            f"the corpus has {num_windows} window(s); at least 3 are needed for the "
            "probe-train / probe-val / test split (raise max_tokens or lower window_len)"
        )
    first, last = min_position, window_len - 1 - horizon
    available = last - first + 1
    if available <= 0:
        raise ValueError(
            f"window_len={window_len} leaves no context position: need window_len > "
            f"min_position + horizon (= {min_position + horizon})"
        )
    capacity = num_windows * available
    if num_contexts > capacity:
        raise ValueError(
            f"n_contexts={num_contexts} is larger than the corpus allows: {num_windows} windows × "
            f"{available} usable positions = {capacity} contexts. Lower n_contexts or raise "
            "max_tokens."
        )
    rng = np.random.default_rng(seed)
    quota = np.full(num_windows, num_contexts // num_windows, dtype=np.int64)
    quota[rng.permutation(num_windows)[: num_contexts % num_windows]] += 1
    windows, positions = [], []
    for w in range(num_windows):
        if quota[w] == 0:
            continue
        pos = np.sort(rng.choice(available, size=int(quota[w]), replace=False)) + first
        windows.append(np.full(len(pos), w, dtype=np.int64))
        positions.append(pos.astype(np.int64))
    window_index = np.concatenate(windows)
    position = np.concatenate(positions)
    # Split by window so probes never see a test window's neighbouring positions; by blocks
    # of windows so few test windows have a neighbour (same document) in train.
    window_split = window_splits(
        num_windows, split_fractions[0], split_fractions[1], rng, scheme=split
    )
    return ContextPlan(
        window_index=torch.from_numpy(window_index),
        position=torch.from_numpy(position),
        split=torch.from_numpy(window_split[window_index]),
        horizon=horizon,
    )


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


class _Recorder:
    """Forward hooks that copy the sampled rows of each captured layer into preallocated arrays."""

    def __init__(
        self,
        arch: ModelArchitecture,
        layers: list[int],
        num_contexts: int,
        tick: Callable[[], None],
        full_layers: tuple[int, ...] = (),
        full_shape: tuple[int, int] = (0, 0),
    ) -> None:
        self.layers = layers
        self.hidden: dict[int, torch.Tensor] = {}
        self.full_layers = full_layers
        self.full_shape = full_shape  # (windows, T)
        self.full: dict[int, torch.Tensor] = {}
        self.batch_start = 0
        self.rows: torch.Tensor | None = None  # destination rows of the current batch
        self.batch_idx: torch.Tensor | None = None
        self.pos_idx: torch.Tensor | None = None
        self.handles: list[Any] = []
        self.num_contexts = num_contexts
        blocks = arch.blocks
        for layer in layers:
            if layer == 0:
                self.handles.append(
                    blocks[0].register_forward_pre_hook(self._pre_hook(0), with_kwargs=True)
                )
            else:
                self.handles.append(blocks[layer - 1].register_forward_hook(self._hook(layer)))
        # A progress tick after every block keeps reports frequent on slow devices.
        for block in blocks:
            self.handles.append(block.register_forward_hook(lambda *_: tick()))

    def _store(self, layer: int, states: torch.Tensor) -> None:
        if layer in self.full_layers:
            self._store_full(layer, states)
        if self.rows is None or self.rows.numel() == 0:
            return
        assert self.batch_idx is not None and self.pos_idx is not None
        # A model spread over several devices (device_map) hands each block's states over on
        # that block's device: index there (no-op moves on a single device).
        picked = states[self.batch_idx.to(states.device), self.pos_idx.to(states.device)]
        picked = picked.detach().float().cpu()
        if layer not in self.hidden:
            self.hidden[layer] = torch.zeros(self.num_contexts, picked.shape[-1])
        self.hidden[layer][self.rows] = picked

    def _store_full(self, layer: int, states: torch.Tensor) -> None:
        n_windows, length = self.full_shape
        if layer not in self.full:
            width = int(states.shape[-1])
            # fp32 up to 1 GiB; beyond that bf16 halves it (the probes standardise anyway).
            big = n_windows * length * width * 4 > (1 << 30)
            dtype = torch.bfloat16 if big else torch.float32
            self.full[layer] = torch.zeros(n_windows, length, width, dtype=dtype)
        dest = self.full[layer]
        stop = self.batch_start + states.shape[0]
        dest[self.batch_start : stop] = states.detach().to("cpu", dest.dtype)

    def _pre_hook(self, layer: int) -> Callable[..., None]:
        def hook(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            states = args[0] if args else kwargs["hidden_states"]
            self._store(layer, states)

        return hook

    def _hook(self, layer: int) -> Callable[..., None]:
        def hook(_module: nn.Module, _args: Any, output: Any) -> None:
            states = output[0] if isinstance(output, tuple | list) else output
            self._store(layer, states)

        return hook

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()


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
    vocab = int(arch.head.unembed.shape[0])
    width = int(arch.head.unembed.shape[1])
    if batch_size is None:
        batch_size = default_batch_size(window_len, vocab, width, device)
    n_pos = window_len - 1
    arrays = {name: np.zeros((n_windows, n_pos), dtype=np.float32) for name in TOKEN_FLOAT_ARRAYS}
    arrays["argmax"] = np.zeros((n_windows, n_pos), dtype=np.int32)
    if true_probs is not None:
        if true_probs.shape[:2] != (n_windows, n_pos):
            raise ValueError(
                f"reference true_probs has shape {true_probs.shape}, expected "
                f"({n_windows}, {n_pos}, V)"
            )
        for name in EXACT_ARRAYS:
            arrays[name] = np.zeros((n_windows, n_pos), dtype=np.float32)
    n_fid = min(fidelity_contexts, plan.num_contexts)
    fidelity = torch.zeros(n_fid, vocab)

    total_blocks = max(1, n_windows * arch.num_layers)
    state = {"blocks_done": 0, "last_report": 0.0, "batch_windows": 1}

    def tick() -> None:
        state["blocks_done"] += state["batch_windows"]
        now = time.perf_counter()
        if progress is not None and now - state["last_report"] > 0.5:
            state["last_report"] = now
            progress(min(1.0, state["blocks_done"] / total_blocks), "capture")

    recorder = _Recorder(
        arch, layers, plan.num_contexts, tick, tuple(full_layers), (n_windows, window_len)
    )
    ctx_window = plan.window_index.numpy()
    oom_retries = 0
    try:
        start = 0
        while start < n_windows:
            stop = min(n_windows, start + batch_size)
            lo, hi = np.searchsorted(ctx_window, [start, stop])
            rows = torch.arange(int(lo), int(hi))
            recorder.rows = rows
            recorder.batch_start = start
            recorder.batch_idx = (plan.window_index[rows] - start).to(device)
            recorder.pos_idx = plan.position[rows].to(device)
            state["batch_windows"] = stop - start
            blocks_before = state["blocks_done"]
            try:
                batch = windows[start:stop].to(device)
                logits = model(input_ids=batch, use_cache=False).logits
                # Spread models return logits on the head's device, not the input's.
                _reduce_logits(logits, batch.to(logits.device), start, arrays, true_probs)
                fid_rows = rows[rows < n_fid]
                if fid_rows.numel():
                    b = (plan.window_index[fid_rows] - start).to(logits.device)
                    t = plan.position[fid_rows].to(logits.device)
                    fidelity[fid_rows] = logits[b, t].float().cpu()
                del logits
            except (RuntimeError, torch.cuda.OutOfMemoryError) as exc:
                if not _is_oom(exc) or batch_size == 1:
                    raise
                # Adapt: halve the batch and redo it (hooks write rows by index: idempotent).
                batch_size = max(1, batch_size // 2)
                oom_retries += 1
                state["blocks_done"] = blocks_before
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                continue
            start = stop
    finally:
        recorder.remove()
    missing = [layer for layer in layers if layer not in recorder.hidden]
    if missing and plan.num_contexts:
        raise RuntimeError(f"capture hooks never fired for layers {missing}")
    notes = []
    if oom_retries:
        notes.append(f"batch size halved {oom_retries} time(s) after out-of-memory errors")
    return CaptureOutput(
        token_arrays=arrays,
        hidden={layer: recorder.hidden[layer] for layer in layers if layer in recorder.hidden},
        full_states=dict(recorder.full),
        fidelity_logits=fidelity,
        batch_size=batch_size,
        seconds=time.perf_counter() - started,
        oom_retries=oom_retries,
        notes=notes,
    )


def _reduce_logits(
    logits: torch.Tensor,
    batch: torch.Tensor,
    start: int,
    arrays: dict[str, np.ndarray],
    true_probs: np.ndarray | None,
) -> None:
    """Per-token statistics of one batch, one window and ``_ROW_CHUNK`` rows at a time.

    Also the top-``TOPK`` next tokens per token (ids int32, probabilities as uint16
    floor(p·65535)): 30 bytes a token, what the token view's hover shows.
    """
    n_pos = batch.shape[1] - 1
    if TOPK_IDS not in arrays:  # allocated on first use: shaped like the other token arrays
        k = min(TOPK, int(logits.shape[-1]))
        n_windows = arrays["nll"].shape[0]
        arrays[TOPK_IDS] = np.zeros((n_windows, n_pos, k), dtype=np.int32)
        arrays[TOPK_PROBS] = np.zeros((n_windows, n_pos, k), dtype=np.uint16)
    for b in range(batch.shape[0]):
        w = start + b
        for r0 in range(0, n_pos, _ROW_CHUNK):
            r1 = min(n_pos, r0 + _ROW_CHUNK)
            chunk = logits[b, r0:r1]
            targets = batch[b, r0 + 1 : r1 + 1]
            stats = token_stats(chunk, targets)
            for name in TOKEN_FLOAT_ARRAYS:
                arrays[name][w, r0:r1] = getattr(stats, name).float().cpu().numpy()
            arrays["argmax"][w, r0:r1] = stats.argmax.cpu().numpy()
            top_ids, top_q = topk_of(chunk, top1_prob=stats.top1_conf)
            arrays[TOPK_IDS][w, r0:r1] = top_ids.cpu().numpy()
            arrays[TOPK_PROBS][w, r0:r1] = top_q.cpu().numpy().astype(np.uint16)
            if true_probs is not None:
                kl, true_ent, cross = exact_token_terms(
                    chunk, torch.from_numpy(np.ascontiguousarray(true_probs[w, r0:r1]))
                )
                arrays["exact_kl"][w, r0:r1] = kl.numpy()
                arrays["exact_true_entropy"][w, r0:r1] = true_ent.numpy()
                arrays["exact_cross_entropy"][w, r0:r1] = cross.numpy()


def exact_token_terms(
    logits: torch.Tensor, true_probs: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(KL(p*‖p), H(p*), CE(p*, p)) per row, in fp64 on CPU; CE = KL + H* holds exactly."""
    logp = torch.log_softmax(logits.double().cpu(), dim=-1)
    pstar = true_probs.double()
    if pstar.shape[-1] != logp.shape[-1]:
        raise ValueError(
            f"reference vocabulary {pstar.shape[-1]} differs from the model's {logp.shape[-1]}"
        )
    # 0·log 0 = 0: mask instead of adding an epsilon (which would bias H* and KL).
    pos = pstar > 0
    log_pstar = torch.where(pos, pstar.clamp_min(1e-300).log(), torch.zeros_like(pstar))
    true_ent = -(pstar * log_pstar).sum(-1)
    cross = -(torch.where(pos, pstar * logp, torch.zeros_like(pstar))).sum(-1)
    kl = torch.where(pos, pstar * (log_pstar - logp), torch.zeros_like(pstar)).sum(-1)
    return kl.float(), true_ent.float(), cross.float()

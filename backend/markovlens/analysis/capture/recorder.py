"""Forward hooks that copy the sampled rows of each captured layer out of a forward pass.

Use as a context manager, so the hooks are removed however the pass ends::

    with Recorder(arch, layers, plan.num_contexts, tick) as recorder:
        for start, stop in batches:
            recorder.select(plan, start, stop, device)
            model(input_ids=windows[start:stop])
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

import numpy as np
import torch
from torch import nn

from markovlens.analysis.architecture import ModelArchitecture
from markovlens.analysis.capture.plan import ContextPlan


class Recorder:
    """Copies the plan's rows of each captured layer into preallocated fp32 CPU arrays.

    ``layers`` are residual-stream indices (0 = input of the first block, L = output of the
    last); ``full_layers`` are also kept at every position of every window. ``tick`` is called
    after every block (progress on slow devices).
    """

    def __init__(
        self,
        arch: ModelArchitecture,
        layers: list[int],
        num_contexts: int,
        tick: Callable[[], None],
        full_layers: tuple[int, ...] = (),
        full_shape: tuple[int, int] = (0, 0),
    ) -> None:
        self.arch = arch
        self.layers = layers
        self.num_contexts = num_contexts
        self.tick = tick
        self.hidden: dict[int, torch.Tensor] = {}  # layer -> [N, d]
        self.full_layers = full_layers
        self.full_shape = full_shape  # (windows, T)
        self.full: dict[int, torch.Tensor] = {}  # layer -> [windows, T, d]
        self.batch_start = 0
        self.rows: torch.Tensor | None = None  # destination rows of the current batch
        self.batch_idx: torch.Tensor | None = None
        self.pos_idx: torch.Tensor | None = None
        self._handles: list[Any] = []

    def __enter__(self) -> Recorder:
        blocks = self.arch.blocks
        for layer in self.layers:
            if layer == 0:
                handle = blocks[0].register_forward_pre_hook(self._pre_hook(0), with_kwargs=True)
            else:
                handle = blocks[layer - 1].register_forward_hook(self._hook(layer))
            self._handles.append(handle)
        # A progress tick after every block keeps reports frequent on slow devices.
        for block in blocks:
            self._handles.append(block.register_forward_hook(lambda *_: self.tick()))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def select(
        self, plan: ContextPlan, start: int, stop: int, device: torch.device
    ) -> torch.Tensor:
        """Point the hooks at the batch of windows ``start:stop``; returns the plan's rows in it."""
        lo, hi = np.searchsorted(plan.window_index.numpy(), [start, stop])
        rows = torch.arange(int(lo), int(hi))
        self.rows = rows
        self.batch_start = start
        self.batch_idx = (plan.window_index[rows] - start).to(device)
        self.pos_idx = plan.position[rows].to(device)
        return rows

    def captured(self) -> dict[int, torch.Tensor]:
        """{layer: [N, d]} in the order of ``layers``; raises if a layer's hook never fired."""
        missing = [layer for layer in self.layers if layer not in self.hidden]
        if missing and self.num_contexts:
            raise RuntimeError(f"capture hooks never fired for layers {missing}")
        return {layer: self.hidden[layer] for layer in self.layers if layer in self.hidden}

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

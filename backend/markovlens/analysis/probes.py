"""Affine probes read out through the model's own frozen head (the Future-Lens/EAGLE shape).

A probe maps features x (standardised [h_t; e(y_t); …]) to width d with one affine layer, then
applies a frozen copy of the final norm and the unembedding: ~d² parameters, not d·|V|.
Training uses the full softmax on small batches for a bounded number of steps (CPU-cheap),
AdamW, and keeps the parameters with the best validation cross-entropy (early stopping).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from markovlens.analysis.contexts import HeadSpec, frozen_copy


class FrozenHead(nn.Module):
    """A fp32 copy of the head kernel on ``device``, with no trainable parameters."""

    def __init__(self, head: HeadSpec, device: torch.device | str = "cpu") -> None:
        super().__init__()
        self.norm = frozen_copy(head.norm, device, torch.float32)
        self.unembed = head.unembed.detach().to(device, torch.float32)
        self.bias = None if head.bias is None else head.bias.detach().to(device, torch.float32)
        self.unembed_bf16: torch.Tensor | None = None  # made on the first fast call
        self.logit_scale = float(head.logit_scale)
        self.softcap = head.final_softcap

    @property
    def device(self) -> torch.device:
        return self.unembed.device

    def forward(self, hidden: torch.Tensor, fast: bool = False) -> torch.Tensor:
        """Logits; ``fast`` uses a bf16 copy of U for the big matmul (training only)."""
        normed = self.norm(hidden)
        if fast:
            if self.unembed_bf16 is None:
                self.unembed_bf16 = self.unembed.to(torch.bfloat16)
            logits = (normed.to(torch.bfloat16) @ self.unembed_bf16.T).float()
        else:
            logits = normed @ self.unembed.T
        if self.bias is not None:
            logits = logits + self.bias
        logits = logits * self.logit_scale
        if self.softcap is not None:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits


def resolve_device(name: str) -> torch.device:
    """``auto`` → the first CUDA device when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def use_bf16(precision: str, device: torch.device) -> bool:
    """bf16 training matmuls where they are fast: CUDA, or CPUs with AMX tiles."""
    if precision != "auto":
        return precision == "bfloat16"
    if device.type == "cuda":
        return True
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return bool(amx()) if amx is not None else False
    except Exception:  # a private helper: never let it break an analysis
        return False


@dataclass
class ProbeSettings:
    batch_size: int
    max_epochs: int
    max_steps: int
    patience: int
    lr: float
    weight_decay: float
    eval_batch_size: int
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    bf16: bool = False


@dataclass
class TrainedProbe:
    """The fitted affine map and how training went."""

    linear: nn.Linear
    steps: int
    epochs: int
    best_val_ce: float
    seconds: float


@torch.no_grad()
def evaluate(
    linear: nn.Linear, head: FrozenHead, x: torch.Tensor, y: torch.Tensor, batch: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example cross-entropy (nats) and argmax of the probe on (x, y)."""
    ces, argmaxes = [], []
    for lo in range(0, x.shape[0], batch):
        logits = head(linear(x[lo : lo + batch]))
        ces.append(nn.functional.cross_entropy(logits, y[lo : lo + batch], reduction="none"))
        argmaxes.append(logits.argmax(dim=1))
    if not ces:
        return torch.zeros(0), torch.zeros(0, dtype=torch.long)
    return torch.cat(ces), torch.cat(argmaxes)


@torch.enable_grad()  # callers may sit inside no_grad (the capture pass does)
def train_probe(
    head: FrozenHead,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    init_weight: torch.Tensor,
    init_bias: torch.Tensor,
    settings: ProbeSettings,
    gen: torch.Generator,
) -> TrainedProbe:
    """Fit one probe from the given initial affine map; return the best-on-val parameters."""
    started = time.perf_counter()
    d_out, d_in = init_weight.shape
    linear = nn.Linear(d_in, d_out, device=x_train.device)
    with torch.no_grad():
        linear.weight.copy_(init_weight)
        linear.bias.copy_(init_bias)
    opt = torch.optim.AdamW(linear.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)

    def val_ce() -> float:
        ce, _ = evaluate(linear, head, x_val, y_val, settings.eval_batch_size)
        return float(ce.mean()) if ce.numel() else float("nan")

    # The initial point is a candidate: a warm start can only be improved upon on val.
    best = val_ce()
    best_state = copy.deepcopy(linear.state_dict())
    steps = epochs = bad = 0
    n = x_train.shape[0]
    while epochs < settings.max_epochs and steps < settings.max_steps and n > 0:
        epochs += 1
        order = torch.randperm(n, generator=gen)
        for lo in range(0, n, settings.batch_size):
            idx = order[lo : lo + settings.batch_size]
            logits = head(linear(x_train[idx]), fast=settings.bf16)
            loss = nn.functional.cross_entropy(logits, y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
            if steps >= settings.max_steps:
                break
        current = val_ce()
        if current < best - 1e-4:
            best, bad = current, 0
            best_state = copy.deepcopy(linear.state_dict())
        else:
            bad += 1
            if bad >= settings.patience:
                break
    linear.load_state_dict(best_state)
    linear.requires_grad_(False)
    return TrainedProbe(linear, steps, epochs, best, time.perf_counter() - started)

"""Affine probes read out through the model's own frozen head (the Future-Lens/EAGLE shape).

A probe maps features x (standardised [h_t; e(y_t); …]) to width d with one affine layer, then
applies a frozen copy of the final norm and the unembedding: ~d² parameters, not d·|V|.
Training uses the full softmax on small batches for a bounded number of steps (CPU-cheap),
AdamW, and keeps the parameters with the best validation cross-entropy (early stopping).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
from torch import nn

from markovlens.analysis.contexts import HeadSpec


class FrozenHead(nn.Module):
    """A CPU fp32 copy of the head kernel with no trainable parameters."""

    def __init__(self, head: HeadSpec) -> None:
        super().__init__()
        self.norm = copy.deepcopy(head.norm).to("cpu", torch.float32).requires_grad_(False)
        self.register_buffer("unembed", head.unembed.detach().to("cpu", torch.float32))
        bias = None if head.bias is None else head.bias.detach().to("cpu", torch.float32)
        self.register_buffer("bias", bias)
        self.logit_scale = float(head.logit_scale)
        self.softcap = head.final_softcap

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.norm(hidden) @ self.unembed.T
        if self.bias is not None:
            logits = logits + self.bias
        logits = logits * self.logit_scale
        if self.softcap is not None:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits


@dataclass
class ProbeSettings:
    batch_size: int
    max_epochs: int
    max_steps: int
    patience: int
    lr: float
    weight_decay: float
    eval_batch_size: int


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
    with torch.enable_grad():  # callers may sit inside no_grad (the capture pass does)
        return _train(head, x_train, y_train, x_val, y_val, init_weight, init_bias, settings, gen)


def _train(
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
    started = time.perf_counter()
    d_out, d_in = init_weight.shape
    linear = nn.Linear(d_in, d_out)
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
            loss = nn.functional.cross_entropy(head(linear(x_train[idx])), y_train[idx])
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

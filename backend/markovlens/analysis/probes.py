"""The surplus suite's readouts: probes from (h_t, y_t … y_{t+j−1}) to y_{t+j}.

Every readout is a softmax over the probe-train vocabulary plus one out-of-vocabulary class
whose mass is spread uniformly over the unseen tokens, so its cross-entropy is over the full
vocabulary while no training step ever touches all |V| logits.

- ``ModelFreeReadout`` (the estimator): standardised h_t → affine map to width r, plus a
  learned embedding of each conditioning token, one GELU, a learned r × |V_train| softmax whose
  bias starts at the held-out marginal. Without h_t it is the same "neural n-gram" for every
  model on a corpus.
- ``FrozenHeadReadout`` (a labelled variant): features → affine map to d → the model's own
  frozen final norm and unembedding rows of the train vocabulary (what a drafter sharing the
  head recovers).

Training: AdamW on minibatches, early stopping on validation cross-entropy; the best-on-val
parameters are kept and a probe that stops at its cap while still improving says so.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from markovlens.analysis.head import HeadSpec, frozen_copy


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


MIN_ROUND_STEPS = 4


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
    lr_decay: float = 0.5  # on an epoch without improvement: back to the best, lr × this


class Vocab:
    """The probe-train vocabulary: class c < n for its tokens, class n = OOV."""

    def __init__(self, tokens: torch.Tensor, vocab_size: int) -> None:
        self.tokens = torch.unique(tokens.long())
        self.vocab_size = vocab_size
        self.size = int(self.tokens.numel())
        # A [|V|] int64 lookup: 8 bytes per token of the full vocabulary, once per fold.
        self.lookup = torch.full((vocab_size,), self.size, dtype=torch.long)
        self.lookup[self.tokens] = torch.arange(self.size)
        unseen = vocab_size - self.size
        self.oov_penalty = math.log(unseen) if unseen > 0 else 0.0

    @property
    def num_classes(self) -> int:
        return self.size + 1

    def classes(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.lookup[tokens.long()]

    def token_of(self, classes: torch.Tensor) -> torch.Tensor:
        """Vocabulary id of each class; −1 for the OOV class."""
        ids = torch.cat([self.tokens, torch.tensor([-1])])
        return ids[classes]

    def class_log_prior(self, log_marginal: torch.Tensor) -> torch.Tensor:
        """log-probabilities per class of a full-vocabulary marginal (OOV: the unseen mass)."""
        probs = log_marginal.double().exp()
        seen = probs[self.tokens]
        oov = (1.0 - float(seen.sum())) if self.oov_penalty else 1e-12
        return torch.cat([seen, torch.tensor([max(oov, 1e-12)], dtype=torch.float64)]).log().float()


@dataclass
class ProbeInputs:
    """Rows of one probe: standardised features and conditioning-token classes (either may be
    empty)."""

    x: torch.Tensor  # [n, d_in] float32 (d_in may be 0)
    tokens: torch.Tensor  # [n, j] int64 classes
    y: torch.Tensor  # [n] int64 classes
    offset: torch.Tensor | None = None  # [n, classes] fixed log-probabilities (residual readout)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def take(self, idx: torch.Tensor) -> ProbeInputs:
        off = None if self.offset is None else self.offset.index_select(0, idx)
        return ProbeInputs(
            self.x.index_select(0, idx), self.tokens.index_select(0, idx), self.y[idx], off
        )

    def to(self, device: torch.device) -> ProbeInputs:
        off = None if self.offset is None else self.offset.to(device)
        return ProbeInputs(self.x.to(device), self.tokens.to(device), self.y.to(device), off)


class _TokenStateMixer(nn.Module):
    """The hidden layer both learned readouts share: GELU(A·x + Σ_i E_i[y_{t+i}] + c), width
    ``rank``, then an output map to the classes (``out``, initialised by each subclass)."""

    def __init__(self, d_in: int, j: int, num_classes: int, rank: int) -> None:
        super().__init__()
        self.state = nn.Linear(d_in, rank, bias=False) if d_in > 0 else None
        self.embed = nn.ModuleList(nn.Embedding(num_classes, rank) for _ in range(j))
        self.hidden_bias = nn.Parameter(torch.zeros(rank))
        self.out = nn.Linear(rank, num_classes)

    @torch.no_grad()
    def _init_inputs(self, gen: torch.Generator | None) -> None:
        """A and E_i from ``gen`` only (never the global RNG): reproducible per probe."""
        if self.state is not None:
            bound = 1.0 / math.sqrt(self.state.in_features)
            self.state.weight.uniform_(-bound, bound, generator=gen)
        for emb in self.embed:
            assert isinstance(emb, nn.Embedding)
            emb.weight.normal_(0.0, 1.0, generator=gen)

    def _hidden(self, batch: ProbeInputs) -> torch.Tensor:
        z = self.hidden_bias.expand(len(batch), -1)
        if self.state is not None:
            z = z + self.state(batch.x)
        for i, emb in enumerate(self.embed):
            z = z + emb(batch.tokens[:, i])
        return nn.functional.gelu(z)


class ModelFreeReadout(_TokenStateMixer):
    """logits = W·GELU(A·x + Σ_i E_i[y_{t+i}] + c) + b over |V_train| + 1 classes.

    The GELU lets h_t and the tokens interact (a log-additive readout cannot represent a
    trigram table); ``A`` is absent (d_in = 0) for no-state probes.
    """

    def __init__(
        self,
        d_in: int,
        j: int,
        num_classes: int,
        rank: int,
        log_prior: torch.Tensor,
        gen: torch.Generator | None = None,
    ) -> None:
        super().__init__(d_in, j, num_classes, rank)
        # Initialised from ``gen`` only (never the global RNG): reproducible per probe.
        with torch.no_grad():
            self.out.weight.normal_(0.0, 0.1 / math.sqrt(rank), generator=gen)
            self.out.bias.copy_(log_prior)
        self._init_inputs(gen)

    def forward(self, batch: ProbeInputs) -> torch.Tensor:
        return self.out(self._hidden(batch))

    def reads_state(self, d_state: int = 0) -> bool:
        return self.state is not None and bool(torch.count_nonzero(self.state.weight))

    def nested_with_state(self, d_in: int) -> ModelFreeReadout:
        """A copy that also reads h_t with zero weights: it starts as this probe exactly."""
        rank = self.hidden_bias.shape[0]
        twin = ModelFreeReadout(d_in, len(self.embed), self.out.out_features, rank, self.out.bias)
        twin.load_state_dict(self.state_dict(), strict=False)
        assert twin.state is not None
        with torch.no_grad():
            twin.state.weight.zero_()
        return twin


class ResidualReadout(_TokenStateMixer):
    """logits = log p_ngram(· | tokens) + W·GELU(A·x + Σ_i E_i[y_{t+i}] + c) + b.

    A correction on top of the count n-gram (the row's fixed ``offset``): W and b start at zero,
    so the readout starts exactly at the n-gram and only has to learn what h_t adds. The
    model-free readout nested on its own neural n-gram cannot do this on a few thousand rows:
    it never even reaches the count bigram, so the state's gain is hidden under that misfit.
    """

    def __init__(
        self, d_in: int, j: int, num_classes: int, rank: int, gen: torch.Generator | None = None
    ) -> None:
        super().__init__(d_in, j, num_classes, rank)
        with torch.no_grad():
            self.out.weight.zero_()
            self.out.bias.zero_()
        self._init_inputs(gen)

    def forward(self, batch: ProbeInputs) -> torch.Tensor:
        assert batch.offset is not None, "a residual readout needs the n-gram offset"
        return batch.offset + self.out(self._hidden(batch))

    def reads_state(self, d_state: int = 0) -> bool:
        # h_t reaches the logits only through A and W: both must be non-zero.
        return (
            self.state is not None
            and bool(torch.count_nonzero(self.state.weight))
            and bool(torch.count_nonzero(self.out.weight))
        )


class FrozenHeadReadout(nn.Module):
    """logits = scale·U_train·norm(W·x + b) (+ head bias), plus a learned OOV logit."""

    def __init__(self, head: FrozenHead, vocab: Vocab, d_in: int, hidden_bias: torch.Tensor):
        super().__init__()
        device = head.device
        self.norm = head.norm
        self.unembed = head.unembed[vocab.tokens.to(device)]
        self.head_bias = None if head.bias is None else head.bias[vocab.tokens.to(device)]
        self.scale, self.softcap = head.logit_scale, head.softcap
        d = int(head.unembed.shape[1])
        self.linear = nn.Linear(d_in, d, device=device)
        self.oov = nn.Parameter(torch.zeros((), device=device))
        with torch.no_grad():
            self.linear.weight.zero_()
            self.linear.bias.copy_(hidden_bias)

    def forward(self, batch: ProbeInputs) -> torch.Tensor:
        logits = self.norm(self.linear(batch.x)) @ self.unembed.T
        if self.head_bias is not None:
            logits = logits + self.head_bias
        logits = logits * self.scale
        if self.softcap is not None:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return torch.cat([logits, self.oov.expand(logits.shape[0], 1)], dim=1)

    def reads_state(self, d_state: int) -> bool:
        return bool(torch.count_nonzero(self.linear.weight[:, :d_state]))

    def fit_marginal_start(self, log_prior: torch.Tensor, steps: int = 60) -> None:
        """Move b (with W = 0) and the OOV logit so the readout starts at the marginal."""
        target = log_prior.exp().to(self.oov.device)
        params = [self.linear.bias, self.oov]
        scale = float(self.linear.bias.detach().abs().mean().clamp_min(1e-3))
        opt = torch.optim.Adam(params, lr=0.1 * scale)
        d_in = self.linear.in_features
        empty = ProbeInputs(torch.zeros(1, d_in), torch.zeros(1, 0), torch.zeros(1))
        with torch.enable_grad():
            for _ in range(steps):
                logp = torch.log_softmax(self(empty.to(self.oov.device)), dim=1)[0]
                loss = -(target * logp).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()


@dataclass
class TrainedProbe:
    """How training went (the module itself keeps its best-on-val parameters)."""

    steps: int
    epochs: int
    best_val_ce: float
    seconds: float
    hit_cap: bool


@torch.no_grad()
def class_losses(
    module: nn.Module, inputs: ProbeInputs, batch: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row class cross-entropy and argmax class, in chunks of ``batch`` rows."""
    ces, argmaxes = [], []
    for lo in range(0, len(inputs), batch):
        part = inputs.take(torch.arange(lo, min(len(inputs), lo + batch)))
        logits = module(part).float()
        ces.append(nn.functional.cross_entropy(logits, part.y, reduction="none"))
        argmaxes.append(logits.argmax(dim=1))
    if not ces:
        return torch.zeros(0), torch.zeros(0, dtype=torch.long)
    return torch.cat(ces), torch.cat(argmaxes)


def full_vocab_losses(
    module: nn.Module, inputs: ProbeInputs, vocab: Vocab, batch: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row cross-entropy over the full vocabulary (OOV mass spread uniformly over unseen
    tokens) and the argmax's vocabulary id (−1: the OOV class)."""
    ce, argmax = class_losses(module, inputs, batch)
    ce, argmax = ce.cpu(), argmax.cpu()
    oov = inputs.y.cpu() == vocab.size
    return ce + oov.float() * vocab.oov_penalty, vocab.token_of(argmax)


@torch.enable_grad()  # callers may sit inside no_grad (the capture pass does)
def train_readout(
    module: nn.Module,
    train: ProbeInputs,
    val: ProbeInputs,
    settings: ProbeSettings,
    gen: torch.Generator,
    val_ce: Callable[[], float] | None = None,
    vocab: Vocab | None = None,
) -> TrainedProbe:
    """Fit ``module`` on ``train``; keep the parameters with the best validation CE.

    With ``vocab`` the validation CE is over the full vocabulary (OOV targets charged their
    share of the unseen mass), the same quantity as the test CE; without it, the class CE.
    """
    started = time.perf_counter()
    params = [p for p in module.parameters() if p.requires_grad]
    # Fused: one kernel per parameter and step instead of a dozen small ops (a probe step is
    # a few small GEMMs, so the optimiser's per-op overhead was a third of it on a CPU).
    opt = torch.optim.AdamW(
        params, lr=settings.lr, weight_decay=settings.weight_decay, fused=bool(params)
    )

    def current_val() -> float:
        if val_ce is not None:
            return val_ce()
        if vocab is not None:
            ce, _ = full_vocab_losses(module, val, vocab, settings.eval_batch_size)
        else:
            ce, _ = class_losses(module, val, settings.eval_batch_size)
        return float(ce.mean()) if ce.numel() else float("nan")

    best = current_val()  # the start is a candidate: a warm start can only be improved upon
    best_state = copy.deepcopy(module.state_dict())
    steps = epochs = bad = 0
    n = len(train)
    improved_last = False
    # One "epoch" (a validation round) is a pass over the rows but at least MIN_ROUND_STEPS
    # steps, so a small training set does not spend its epoch cap after a few steps.
    per_pass = max(1, -(-n // settings.batch_size))
    passes = max(1, -(-MIN_ROUND_STEPS // per_pass))
    while epochs < settings.max_epochs and steps < settings.max_steps and n > 0:
        epochs += 1
        order = torch.cat([torch.randperm(n, generator=gen) for _ in range(passes)])
        for lo in range(0, order.numel(), settings.batch_size):
            part = train.take(order[lo : lo + settings.batch_size])
            with torch.autocast(settings.device.type, torch.bfloat16, enabled=settings.bf16):
                logits = module(part)
            loss = nn.functional.cross_entropy(logits.float(), part.y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
            if steps >= settings.max_steps:
                break
        current = current_val()
        improved_last = current < best - 1e-4
        if improved_last:
            best, bad = current, 0
            best_state = copy.deepcopy(module.state_dict())
        else:
            bad += 1
            if bad >= settings.patience:
                break
            if settings.lr_decay < 1.0:
                # Step back to the best point and refine it with a smaller step: a fixed lr
                # stops where its own noise floor is (on the lab's lookahead source the
                # with-state readout stayed ~0.02 nats above the truth).
                module.load_state_dict(best_state)
                for group in opt.param_groups:
                    group["lr"] *= settings.lr_decay
    module.load_state_dict(best_state)
    module.requires_grad_(False)
    # At a cap with the last epoch still improving, more training would likely have helped.
    hit_cap = improved_last and (steps >= settings.max_steps or epochs >= settings.max_epochs)
    return TrainedProbe(steps, epochs, best, time.perf_counter() - started, hit_cap)

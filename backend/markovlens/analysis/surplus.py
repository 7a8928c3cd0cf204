"""Information-surplus suite (metrics.md §2): paired held-out probes, chain-rule terms.

term_j = CE_test(no-state) − CE_test(with-state) for q(y_{t+j} | [h_t;] y_t … y_{t+j−1}).
Two stages keep the comparison fair when the step budget is too small to converge:
1. a no-state probe is trained from scratch (the "base");
2. from the base, with the same budget and early stopping, train (a) the no-state probe again
   (continued) and (b) the with-state probe, whose h_t weights start at zero (nested family).
term_j compares (a) with (b): both had the same total training on the token weights, so
extra steps alone cannot show up as surplus, and (b) starts at (a)'s starting point.
When (b) never beats its start on validation, early stopping keeps the zero h_t weights: the
term is then a floor, not a measured zero (``SurplusTerm.state_used`` is False and a note says
so); ``SurplusSuite.detected`` says per K whether the interval lies above zero.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from markovlens.analysis.contexts import SampledContexts
from markovlens.analysis.linalg import single_thread, torch_generator
from markovlens.analysis.probes import (
    FrozenHead,
    ProbeSettings,
    evaluate,
    resolve_device,
    train_probe,
    use_bf16,
)
from markovlens.analysis.results import Interval
from markovlens.analysis.splits import context_splits
from markovlens.analysis.surplus_schema import (
    DraftingProxy,
    LayerTerm,
    LookaheadInfo,
    ProbeFit,
    SurplusBounds,
    SurplusConfig,
    SurplusSuite,
    SurplusTerm,
    is_detected,
)

ProgressFn = Callable[[float, str], None]
UNIGRAM_ALPHAS = (1e-3, 1e-2, 0.1, 0.5, 1.0)
MARGINAL_STEPS = 60  # full-batch steps fitting the shared initial bias to the marginal
MIX_WEIGHTS = (0.0, 0.5, 0.9, 1.0)  # weight of the model's average predictive p̄


def _r(x: float) -> float:
    return round(float(x), 6) if math.isfinite(x) else float(x)


@dataclass
class _Standardiser:
    """Per-feature z-scoring fitted on train rows (folded into the probe's affine map)."""

    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def fit(cls, x: torch.Tensor) -> _Standardiser:
        mean, std = x.mean(0), x.std(0, unbiased=False)
        # Constant features (e.g. a dead dimension) must not blow up: give them unit scale.
        return cls(mean, torch.where(std > 1e-8 * std.max().clamp_min(1e-30), std, 1.0))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class _Data:
    """Features and targets for every probe, split by window."""

    def __init__(self, contexts: SampledContexts, config: SurplusConfig, rng: np.random.Generator):
        self.contexts = contexts
        self.max_k = config.max_k
        self.splits = context_splits(contexts, config.train_fraction, config.val_fraction, rng)
        self.future = contexts.future_tokens[:, : config.max_k]
        embed = contexts.embed.detach().to("cpu", torch.float32)
        train = self.splits["train"]
        # Token features e(y_{t+i}); −1 (past the window) rows are masked out per offset.
        safe = self.future.clamp_min(0)
        self.tokens = [embed[safe[:, i]] for i in range(config.max_k)]
        tok_std = _Standardiser.fit(self.tokens[0][train])
        self.tokens = [tok_std(t) for t in self.tokens]
        self.state_std = {
            layer: _Standardiser.fit(h[train].float()) for layer, h in contexts.hidden.items()
        }

    def state(self, layer: int) -> torch.Tensor:
        return self.state_std[layer](self.contexts.hidden[layer].float())

    def rows(self, j: int, split: str) -> torch.Tensor:
        return self.splits[split] & (self.future[:, j] >= 0)

    def features(self, j: int, state_layer: int | None, n_tokens: int) -> torch.Tensor:
        parts = [] if state_layer is None else [self.state(state_layer)]
        parts += self.tokens[:n_tokens]
        return torch.cat(parts, dim=1) if parts else torch.zeros(self.future.shape[0], 0)


@dataclass
class _Fit:
    ce: torch.Tensor  # per test row
    argmax: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor


class _Trainer:
    def __init__(
        self,
        data: _Data,
        head: FrozenHead,
        settings: ProbeSettings,
        gen: torch.Generator,
        record: list[ProbeFit],
        tick: Callable[[str], None],
    ):
        self.data, self.head, self.settings, self.gen = data, head, settings, gen
        self.record, self.tick = record, tick

    def fit(
        self, name: str, j: int, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
    ) -> _Fit:
        d, y = self.data, self.data.future[:, j]
        tr, va, te = d.rows(j, "train"), d.rows(j, "val"), d.rows(j, "test")
        dev = self.settings.device
        probe = train_probe(
            self.head,
            x[tr].to(dev),
            y[tr].to(dev),
            x[va].to(dev),
            y[va].to(dev),
            weight.to(dev),
            bias.to(dev),
            self.settings,
            self.gen,
        )
        ce, argmax = evaluate(
            probe.linear, self.head, x[te].to(dev), y[te].to(dev), self.settings.eval_batch_size
        )
        ce, argmax = ce.cpu(), argmax.cpu()
        self.record.append(
            ProbeFit(
                name=name,
                steps=probe.steps,
                epochs=probe.epochs,
                best_val_ce=_r(probe.best_val_ce),
                test_ce=_r(float(ce.mean())) if ce.numel() else float("nan"),
                seconds=round(probe.seconds, 3),
            )
        )
        self.tick(name)
        return _Fit(
            ce, argmax, probe.linear.weight.detach().cpu(), probe.linear.bias.detach().cpu()
        )


class _WindowBootstrap:
    """Paired bootstrap over test windows: one resampling shared by every quantity."""

    def __init__(
        self, window_index: torch.Tensor, test: torch.Tensor, samples: int, rng: np.random.Generator
    ):
        self.windows = np.unique(window_index[test].numpy())
        self.lookup = {int(w): i for i, w in enumerate(self.windows)}
        self.window_index = window_index
        n = len(self.windows)
        self.idx = rng.integers(0, n, size=(samples, n)) if n >= 2 else None

    def sums(self, rows: torch.Tensor, values: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Per-window sums and counts of ``values`` (one per True entry of ``rows``)."""
        pos = np.array([self.lookup[int(w)] for w in self.window_index[rows].tolist()], dtype=int)
        n = len(self.windows)
        vals = values.detach().double().numpy()
        return np.bincount(pos, vals, minlength=n), np.bincount(pos, minlength=n).astype(float)

    def ratio(self, sums: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Estimate Σsums/Σcounts and its bootstrap replicates (sums/counts: [..., windows])."""
        estimate = np.asarray(sums.sum(-1) / np.maximum(counts.sum(-1), 1e-12))
        if self.idx is None:
            return estimate, np.broadcast_to(estimate, (1, *np.shape(estimate)))
        boot = sums[..., self.idx].sum(-1) / np.maximum(counts[..., self.idx].sum(-1), 1e-12)
        return estimate, np.moveaxis(boot, -1, 0)


def _interval(estimate: float, boot: np.ndarray) -> Interval:
    low, high = np.percentile(boot, [2.5, 97.5])
    return Interval(estimate=_r(estimate), low=_r(float(low)), high=_r(float(high)))


@torch.no_grad()
def _model_marginal(head: FrozenHead, states: torch.Tensor, batch: int) -> torch.Tensor:
    """p̄ = mean of the head's predictive over ``states``: a smooth estimate of P(Y) [V]."""
    total = torch.zeros(head.unembed.shape[0], dtype=torch.float64)
    for lo in range(0, states.shape[0], batch):
        chunk = states[lo : lo + batch].float().to(head.device)
        total += torch.softmax(head(chunk), dim=1).double().sum(0).cpu()
    return total / max(1, states.shape[0])


def _best_marginal(data: _Data, j: int, vocab: int, model_marginal: torch.Tensor) -> torch.Tensor:
    """The marginal q of Y_{t+j} with the lowest val CE (its test CE is the H(Y) estimate).

    Candidates: add-α unigrams of the train tokens, the model's own average predictive p̄ and
    their mixtures. With |V| ≫ train tokens a bare unigram is dominated by its smoothing;
    p̄ spreads mass the way the model does, so the mixture is a much tighter upper estimate.
    """
    y = data.future[:, j]
    counts = torch.bincount(y[data.rows(j, "train")], minlength=vocab).double()
    total = float(counts.sum())
    candidates: list[torch.Tensor] = []
    for alpha in UNIGRAM_ALPHAS:
        unigram = (counts + alpha) / (total + alpha * vocab)
        candidates += [(1 - lam) * unigram + lam * model_marginal for lam in MIX_WEIGHTS]
    val = data.rows(j, "val")
    if val.any():
        return min(candidates, key=lambda q: float(-torch.log(q[y[val]]).mean()))
    return candidates[len(MIX_WEIGHTS) // 2]


def _test_ce_of(data: _Data, j: int, q: torch.Tensor) -> torch.Tensor:
    return -torch.log(q[data.future[data.rows(j, "test"), j]].clamp_min(1e-300))


def _fit_bias(head: FrozenHead, q: torch.Tensor, init: torch.Tensor, steps: int) -> torch.Tensor:
    """b with head(b) ≈ q (min cross-entropy): the probes' shared starting point.

    With W = 0 every context gets head(b), so this starts each probe at the marginal instead
    of at head(mean h) (far worse on real models), and costs one V×d product per step.
    """
    target = q.to(head.device, torch.float32)
    b = init.to(head.device).clone().requires_grad_(True)
    scale = float(init.abs().mean().clamp_min(1e-3))
    with torch.enable_grad():
        opt = torch.optim.Adam([b], lr=0.1 * scale)
        for _ in range(steps):
            loss = -(target * torch.log_softmax(head(b[None]), dim=1)[0]).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return b.detach().cpu()


def _with_zero_state(fit: _Fit, d: int) -> torch.Tensor:
    """The with-state weight [d, d + in] equal to ``fit``'s map with zero weight on h_t."""
    return torch.cat([torch.zeros(d, d), fit.weight], dim=1)


def _state_used(fit: _Fit, d: int) -> bool:
    """Whether a with-state map reads h_t: its h_t columns (the first d) are not all zero."""
    return bool(torch.count_nonzero(fit.weight[:, :d]))


def _unused_state_note(j: int) -> str:
    return (
        f"term_{j}: state unused. The with-state probe never beat its start on validation, so "
        "early stopping kept its h_t weights at exactly zero and it reads no state: no "
        f"information in h_t about Y_{{t+{j}}} beyond the given tokens was detectable at this "
        "sample size. The reported value (≈ 0) is a floor, not a measured zero, and its interval "
        "omits the probe-selection uncertainty; the upper bound (bounds) still applies."
    )


def _not_detected_note(surplus: dict[int, Interval], bounds: dict[int, SurplusBounds]) -> str:
    ks = [k for k, iv in sorted(surplus.items()) if not is_detected(iv)]
    ranges = ", ".join(f"0 ≤ Surplus_{k} ≤ {bounds[k].high:.4g}" for k in ks)
    return (
        f"Not detected (95% interval not above 0) for K = {', '.join(map(str, ks))}: "
        f"what the data support is {ranges} (the upper bound from the no-state probes)."
    )


def _layers_for_term1(config: SurplusConfig, captured: list[int]) -> list[int]:
    if config.layers is not None:
        return [x for x in config.layers if x in captured]
    if len(captured) <= config.max_layers:
        return captured
    picks = np.linspace(0, len(captured) - 1, config.max_layers).round().astype(int)
    return sorted({captured[i] for i in picks})


def surplus_suite(
    contexts: SampledContexts,
    config: SurplusConfig,
    rng: np.random.Generator,
    progress: ProgressFn,
    ideal_surplus: dict[int, float] | None = None,
) -> SurplusSuite:
    """Estimate Surplus_K for K = 2..max_k, lookahead information, drafting proxy, per layer.

    ``ideal_surplus`` (synthetic sources) is the exact surplus by K, carried into the result.
    """
    # Small heads (synthetic vocabularies): thousands of tiny steps whose cost is thread
    # hand-off, not arithmetic; one thread is several times faster there.
    small = contexts.head.unembed.numel() < 2**20
    with single_thread() if small else nullcontext():
        return _surplus_suite(contexts, config, rng, progress, ideal_surplus)


def _surplus_suite(
    contexts: SampledContexts,
    config: SurplusConfig,
    rng: np.random.Generator,
    progress: ProgressFn,
    ideal_surplus: dict[int, float] | None,
) -> SurplusSuite:
    started = time.perf_counter()
    last = contexts.last_layer
    d = int(contexts.hidden[last].shape[1])
    vocab = int(contexts.head.unembed.shape[0])
    max_k = min(config.max_k, int(contexts.future_tokens.shape[1]))
    data = _Data(contexts, config.model_copy(update={"max_k": max_k}), rng)
    device = resolve_device(config.device)
    head = FrozenHead(contexts.head, device)
    settings = ProbeSettings(
        device=device,
        bf16=use_bf16(config.train_precision, device),
        batch_size=config.batch_size,
        max_epochs=config.max_epochs,
        max_steps=config.max_steps,
        patience=config.patience,
        lr=config.lr,
        weight_decay=config.weight_decay,
        eval_batch_size=config.eval_batch_size,
    )
    offsets = list(range(1, max_k))
    layers = _layers_for_term1(config, sorted(contexts.hidden)) if config.per_layer else []
    layers_extra = [x for x in layers if x != last]
    total_probes = 3 * len(offsets) + (len(offsets) if config.lookahead else 0) + len(layers_extra)
    done = [0]

    def tick(name: str) -> None:
        done[0] += 1
        progress(min(1.0, done[0] / max(1, total_probes)), f"surplus: {name}")

    probes: list[ProbeFit] = []
    trainer = _Trainer(data, head, settings, torch_generator(rng), probes, tick)
    test = data.splits["test"]
    boot = _WindowBootstrap(contexts.window_index, test, config.bootstrap_samples, rng)
    progress(0.0, "surplus: probes")

    train_states = contexts.hidden[last][data.splits["train"]]
    mean_last = train_states.float().mean(0)
    model_marginal = _model_marginal(head, train_states, config.eval_batch_size)
    marginals = {j: _best_marginal(data, j, vocab, model_marginal) for j in range(max_k)}
    bias0 = {j: _fit_bias(head, marginals[j], mean_last, MARGINAL_STEPS) for j in range(max_k)}
    no_state: dict[int, _Fit] = {}
    with_state: dict[int, _Fit] = {}
    base: dict[int, _Fit] = {}
    for j in offsets:
        x_no = data.features(j, None, j)
        zero = torch.zeros(d, x_no.shape[1])
        base[j] = trainer.fit(f"no-state base j={j}", j, x_no, zero, bias0[j])
        no_state[j] = trainer.fit(f"no-state j={j}", j, x_no, base[j].weight, base[j].bias)
        # Nested warm start: the with-state probe begins as the base no-state probe.
        x_with = data.features(j, last, j)
        with_state[j] = trainer.fit(
            f"with-state j={j}", j, x_with, _with_zero_state(base[j], d), base[j].bias
        )

    # term_j and Surplus_K with one shared window resampling (paired across j and probes).
    diff_sums, diff_counts = [], []
    for j in offsets:
        s, c = boot.sums(data.rows(j, "test"), no_state[j].ce - with_state[j].ce)
        diff_sums.append(s)
        diff_counts.append(c)
    sums_arr, counts_arr = np.stack(diff_sums), np.stack(diff_counts)
    est, reps = boot.ratio(sums_arr, counts_arr)  # est [J], reps [B, J]
    terms = {
        j: SurplusTerm(
            j=j,
            term=_interval(float(est[i]), reps[:, i]),
            ce_with_state=_r(float(with_state[j].ce.mean())),
            ce_no_state=_r(float(no_state[j].ce.mean())),
            num_test_contexts=int(with_state[j].ce.numel()),
            state_used=_state_used(with_state[j], d),
        )
        for i, j in enumerate(offsets)
    }
    surplus = {
        k: _interval(float(est[: k - 1].sum()), reps[:, : k - 1].sum(axis=1))
        for k in range(2, max_k + 1)
    }
    bounds = {
        k: SurplusBounds(
            high=_r(sum(terms[j].ce_no_state for j in range(1, k))),
            trivial_high=_r((k - 1) * math.log(vocab)),
        )
        for k in range(2, max_k + 1)
    }
    detected = {k: is_detected(iv) for k, iv in surplus.items()}

    lookahead: list[LookaheadInfo] = []
    if config.lookahead:
        state_last = data.state(last)
        for j in range(0, max_k):
            rows = data.rows(j, "test")
            h_ce = _test_ce_of(data, j, marginals[j])
            if j == 0:
                # The model's own head: identity map, no training.
                with torch.no_grad():
                    logits = head(contexts.hidden[last][rows].float().to(device)).cpu()
                ce = nn.functional.cross_entropy(logits, data.future[rows, 0], reduction="none")
            else:
                # Start at the marginal (info 0) and learn to look ahead: a lower bound.
                w0 = torch.zeros(d, state_last.shape[1])
                fit = trainer.fit(f"lookahead j={j}", j, state_last, w0, bias0[j])
                ce = fit.ce
            s, c = boot.sums(rows, h_ce - ce)
            e, r = boot.ratio(s, c)
            lookahead.append(
                LookaheadInfo(
                    j=j,
                    entropy_y=_r(float(h_ce.mean())),
                    ce_state=_r(float(ce.mean())),
                    info=_interval(float(e), r),
                )
            )

    drafting = _drafting(data, with_state, contexts, head, last, max_k)

    per_layer: list[LayerTerm] = []
    for layer in layers:
        if layer == last:
            fit_l = with_state[1]
        else:
            x_l = data.features(1, layer, 1)
            w0 = _with_zero_state(base[1], d)
            fit_l = trainer.fit(f"term1 layer={layer}", 1, x_l, w0, base[1].bias)
        s, c = boot.sums(data.rows(1, "test"), no_state[1].ce - fit_l.ce)
        e, r = boot.ratio(s, c)
        per_layer.append(
            LayerTerm(
                layer=layer, term1=_interval(float(e), r), ce_with_state=_r(float(fit_l.ce.mean()))
            )
        )

    n_ctx = {k: int(v.sum()) for k, v in data.splits.items()}
    n_win = {k: len(np.unique(contexts.window_index[v].numpy())) for k, v in data.splits.items()}
    notes = [
        "term_j compares two probes continued from one trained no-state base with equal budgets: "
        "the no-state one and a with-state one whose h_t weights start at zero (nested).",
        "Intervals: 95% percentile bootstrap over test windows, paired across probes.",
        "H(Y) is the held-out CE of the best (on val) mixture of add-α unigrams and the model's "
        "average predictive p̄: an upper estimate, so lookahead information may be overstated "
        "by that marginal's excess loss.",
        "Drafting acc_j compares the with-state probe (fed the true y_t…y_{t+j−1}) with the "
        "model's greedy token; expected accepted length assumes independence (a proxy).",
    ]
    notes += [_unused_state_note(j) for j, term in terms.items() if term.state_used is False]
    if not all(detected.values()):
        notes.append(_not_detected_note(surplus, bounds))
    for k, exact in sorted((ideal_surplus or {}).items()):
        if k in surplus and surplus[k].low > exact:
            notes.append(
                f"Surplus_{k} exceeds the exact value {exact:.4f} beyond its interval: "
                "the no-state probe is under-fitted (its CE is too high) or the split is small."
            )
    if n_win["test"] < 10:
        notes.append(f"Only {n_win['test']} test windows: intervals are coarse.")
    progress(1.0, "surplus: done")
    return SurplusSuite(
        max_k=max_k,
        layer=last,
        num_contexts=n_ctx,
        num_windows=n_win,
        terms=terms,
        surplus=surplus,
        detected=detected,
        bounds=bounds,
        lookahead=lookahead,
        drafting=drafting,
        per_layer=per_layer,
        exact_surplus=ideal_surplus,
        probes=probes,
        seconds=round(time.perf_counter() - started, 3),
        notes=notes,
    )


@torch.no_grad()
def _drafting(
    data: _Data,
    with_state: dict[int, _Fit],
    contexts: SampledContexts,
    head: FrozenHead,
    last: int,
    max_k: int,
) -> DraftingProxy | None:
    """acc_j on test rows where the model's greedy token at t+j is known; acc_0 is a check."""
    greedy = contexts.greedy_future
    acc: dict[int, float] = {}
    rows0 = data.rows(0, "test") & (greedy[:, 0] >= 0)
    if rows0.any():
        own = head(contexts.hidden[last][rows0].float().to(head.device)).argmax(1).cpu()
        acc[0] = _r(float((own == greedy[rows0, 0]).float().mean()))
    for j, fit in with_state.items():
        rows = data.rows(j, "test")
        known = greedy[rows, j] >= 0
        if known.any():
            acc[j] = _r(float((fit.argmax[known] == greedy[rows, j][known]).float().mean()))
    if not any(j in acc for j in range(1, max_k)):
        return None
    expected: dict[int, float] = {}
    for k in range(2, max_k + 1):
        total, prod = 0.0, 1.0
        for j in range(1, k):
            prod *= acc.get(j, 0.0)
            total += prod
        expected[k] = _r(total)
    return DraftingProxy(acc=acc, expected_accepted_length=expected)

"""Information-surplus suite: cross-fitted, model-free readouts, conservative baselines.

term_j = CE_test(no-state) − CE_test(with-state) for predicting y_{t+j} from
[h_t,] y_t … y_{t+j−1}; Surplus_K = Σ_{j<K} term_j. Each side is the candidate with the lowest
*validation* cross-entropy, evaluated once on test:

- no-state: the model-free readout (a neural n-gram: the same for every model on a corpus),
  count n-grams (j ≤ 2, smoothing chosen on validation) and the frozen-head readout fed the
  model's embeddings of the conditioning tokens (a function of the tokens only);
- with-state: the model-free readout started from the no-state one with zero weights on h_t
  (nested) and the frozen-head readout likewise.

Windows are cut into F contiguous folds; each fold is test once (the next block validates,
the rest trains), so every window's positions are pooled and the intervals are a cluster
bootstrap over all windows. Probes train on every position of the train windows when the
capture kept the probe layer there (``WindowData``).
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from markovlens.analysis.contexts import SampledContexts
from markovlens.analysis.linalg import single_thread
from markovlens.analysis.marginal import fit_marginal
from markovlens.analysis.ngrams import NGram, fit_ngram
from markovlens.analysis.probes import (
    FrozenHead,
    FrozenHeadReadout,
    ModelFreeReadout,
    ProbeInputs,
    ProbeSettings,
    ResidualReadout,
    Vocab,
    full_vocab_losses,
    resolve_device,
    train_readout,
    use_bf16,
)
from markovlens.analysis.surplus_data import (
    ClusterBootstrap,
    Fold,
    WindowData,
    rows_from_contexts,
    rows_from_windows,
    window_folds,
)
from markovlens.schema.common import Interval
from markovlens.schema.surplus import (
    ContextCeiling,
    DraftingProxy,
    LayerTerm,
    LookaheadInfo,
    ProbeFit,
    SurplusBounds,
    SurplusConfig,
    SurplusSuite,
    SurplusTerm,
)
from markovlens.schema.verdicts import verdict_of

ProgressFn = Callable[[float, str], None]
MODEL_FREE, NGRAM, FROZEN = "model-free", "n-gram", "frozen-head"
RESIDUAL = "n-gram + state"
# The residual readout holds the n-gram's log-probabilities of every row × train-vocabulary
# class (float32): above this many cells it is skipped (a note says so).
RESIDUAL_MAX_CELLS = 60_000_000


def _r(x: float) -> float:
    return round(float(x), 6) if math.isfinite(x) else float(x)


def _mean(values: np.ndarray | None) -> float:
    return _r(float(np.nanmean(values))) if values is not None else float("nan")


def _interval(estimate: float, reps: np.ndarray) -> Interval:
    low, high = np.percentile(reps, [2.5, 97.5])
    return Interval(estimate=_r(estimate), low=_r(float(low)), high=_r(float(high)))


@dataclass
class _Standardiser:
    """Per-feature z-scoring fitted on train rows."""

    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def fit(cls, x: torch.Tensor) -> _Standardiser:
        mean, std = x.mean(0), x.std(0, unbiased=False)
        # Constant features (a dead dimension) must not blow up: give them unit scale.
        return cls(mean, torch.where(std > 1e-8 * std.max().clamp_min(1e-30), std, 1.0))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


@dataclass
class _Candidate:
    """One readout across folds: pooled validation CE, per-row test CE and argmax."""

    val_sum: float = 0.0
    val_count: int = 0
    test_ce: np.ndarray | None = None
    argmax: np.ndarray | None = None
    folds: int = 0
    state_used: bool = False

    def add(
        self, val_ce: np.ndarray, rows: np.ndarray, test_ce: np.ndarray, argmax: np.ndarray
    ) -> None:
        self.val_sum += float(val_ce.sum())
        self.val_count += int(val_ce.size)
        assert self.test_ce is not None and self.argmax is not None
        self.test_ce[rows] = test_ce
        self.argmax[rows] = argmax
        self.folds += 1

    @property
    def val_ce(self) -> float:
        return self.val_sum / max(1, self.val_count)


@dataclass
class SurplusOutput:
    suite: SurplusSuite
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def surplus_suite(
    contexts: SampledContexts,
    config: SurplusConfig,
    rng: np.random.Generator,
    progress: ProgressFn,
    ideal_surplus: dict[int, float] | None = None,
    windows: WindowData | None = None,
) -> SurplusSuite:
    """Estimate Surplus_K (K = 2..max_k) with its verdict, ceiling, lookahead and per layer."""
    return surplus_analysis(contexts, config, rng, progress, ideal_surplus, windows).suite


def surplus_analysis(
    contexts: SampledContexts,
    config: SurplusConfig,
    rng: np.random.Generator,
    progress: ProgressFn,
    ideal_surplus: dict[int, float] | None = None,
    windows: WindowData | None = None,
) -> SurplusOutput:
    """The suite plus per-context gain arrays ``surplus_gain_j{j}`` aligned with the contexts."""
    # Probe steps are small GEMMs (rows × d × r, r × |V_train|) and a dozen small ops: on a
    # CPU a second thread buys little, and on an oversubscribed box every op waits for it at a
    # barrier (measured on the quick preset, 2 cores under load: 1,900 s with 2 threads,
    # 80 s with 1).
    on_cpu = resolve_device(config.device).type == "cpu"
    with single_thread() if on_cpu else nullcontext():
        return _Estimator(contexts, config, rng, progress, windows).run(ideal_surplus)


class _Estimator:
    def __init__(
        self,
        contexts: SampledContexts,
        config: SurplusConfig,
        rng: np.random.Generator,
        progress: ProgressFn,
        windows: WindowData | None,
    ) -> None:
        self.started = time.perf_counter()
        self.contexts, self.config, self.rng, self.progress = contexts, config, rng, progress
        self.last = contexts.last_layer
        self.vocab_size = int(contexts.head.unembed.shape[0])
        width = int(contexts.future_tokens.shape[1]) if windows is None else config.max_k
        self.max_k = min(config.max_k, width)
        self.offsets = list(range(1, self.max_k))
        if windows is not None:
            self.rows = rows_from_windows(windows, self.max_k)
        else:
            self.rows = rows_from_contexts(contexts, self.last, self.max_k)
        self.folds = window_folds(self.rows.window, config.folds)
        self.device = resolve_device(config.device)
        self.head = FrozenHead(contexts.head, self.device) if config.frozen_head else None
        self.settings = ProbeSettings(
            device=self.device,
            batch_size=config.batch_size,
            max_epochs=config.max_epochs,
            max_steps=config.max_steps,
            patience=config.patience,
            lr=config.lr,
            weight_decay=config.weight_decay,
            eval_batch_size=config.eval_batch_size,
        )
        self.frozen_settings = ProbeSettings(
            **{**self.settings.__dict__, "bf16": use_bf16(config.train_precision, self.device)}
        )
        # Every probe draws from its own stream keyed by (fold, offset, name): the model-free
        # no-state probes see the same draws whatever the model's probes did before them.
        self.seed = int(rng.integers(0, 2**62))
        self.probes: list[ProbeFit] = []
        n = len(self.rows)
        self.candidates: dict[tuple[str, int, str], _Candidate] = {}
        self.marginal_ce = {j: np.full(n, np.nan) for j in range(self.max_k)}
        self.lookahead_ce = {j: np.full(n, np.nan) for j in range(1, self.max_k)}
        self.vocab_sizes: list[int] = []
        self.fold0_base: ModelFreeReadout | None = None
        self.fold0_vocab: Vocab | None = None
        # Fold 0's count-n-gram log-probabilities for j = 1 (per row, train vocabulary + OOV):
        # the per-layer readouts start there, as the last layer's "n-gram + state" does.
        self.fold0_offset: torch.Tensor | None = None
        self.skipped_residual = False
        residual = sum(1 for j in self.offsets if j <= config.ngram_max_j)
        probes_per_fold = len(self.offsets) * (2 + (2 if self.head is not None else 0)) + residual
        self.total = probes_per_fold * len(self.folds) + (
            len(self.offsets) if config.lookahead else 0
        )
        self.done = 0

    # ---- bookkeeping ---------------------------------------------------------------------
    def _candidate(self, side: str, j: int, name: str) -> _Candidate:
        key = (side, j, name)
        if key not in self.candidates:
            n = len(self.rows)
            self.candidates[key] = _Candidate(
                test_ce=np.full(n, np.nan), argmax=np.full(n, -1, dtype=np.int64)
            )
        return self.candidates[key]

    def _gen(self, *key: object) -> torch.Generator:
        gen = torch.Generator()
        gen.manual_seed((self.seed + zlib.crc32(repr(key).encode())) % 2**62)
        return gen

    def _np_rng(self, *key: object) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(repr(key).encode())])

    def _tick(self, name: str) -> None:
        self.done += 1
        self.progress(min(1.0, self.done / max(1, self.total)), f"surplus: {name}")

    def _record(self, name: str, fold: int, fit: object, test_ce: np.ndarray, rows: int) -> None:
        self.probes.append(
            ProbeFit(
                name=name,
                fold=fold,
                steps=fit.steps,  # type: ignore[attr-defined]
                epochs=fit.epochs,  # type: ignore[attr-defined]
                best_val_ce=_r(fit.best_val_ce),  # type: ignore[attr-defined]
                test_ce=_r(float(test_ce.mean())) if test_ce.size else float("nan"),
                seconds=round(fit.seconds, 3),  # type: ignore[attr-defined]
                hit_cap=bool(fit.hit_cap),  # type: ignore[attr-defined]
                train_rows=rows,
            )
        )
        self._tick(name)

    # ---- one fold ------------------------------------------------------------------------
    def _fold(self, fold: Fold) -> None:
        rows, dev = self.rows, self.device
        tr = np.isin(rows.window, fold.train)
        va = np.isin(rows.window, fold.val)
        te = np.isin(rows.window, fold.test)
        te_idx = np.flatnonzero(te)
        future = rows.future
        vocab = Vocab(future[torch.from_numpy(tr)].reshape(-1), self.vocab_size)
        self.vocab_sizes.append(vocab.size)
        std = _Standardiser.fit(rows.state[torch.from_numpy(tr)])
        state = std(rows.state)
        classes = vocab.classes(future)
        all_tokens = np.arange(self.vocab_size)
        masks = {"train": tr, "val": va, "test": te}

        def inputs(split: str, j: int, x: torch.Tensor | None, ntok: int) -> ProbeInputs:
            m = torch.from_numpy(masks[split])
            feats = x[m] if x is not None else torch.zeros(int(m.sum()), 0)
            return ProbeInputs(feats, classes[m][:, :ntok], classes[m][:, j]).to(dev)

        fnp = future.numpy()
        for j in range(self.max_k):
            marginal = fit_marginal(fnp[tr, j], fnp[va, j], self.vocab_size)
            self.marginal_ce[j][te_idx] = marginal.nll(fnp[te, j])
            if j == 0:
                continue
            log_prior = vocab.class_log_prior(torch.from_numpy(marginal.log_prob(all_tokens)))
            self._no_state_and_with_state(fold, j, vocab, state, inputs, log_prior, masks)
            # Lookahead (h_t only) is reported, not used by the verdict: one fold keeps it cheap.
            if self.config.lookahead and fold.index == 0:
                key = (fold.index, j, "lookahead")
                probe = ModelFreeReadout(
                    state.shape[1], 0, vocab.num_classes, self.config.rank, log_prior,
                    self._gen(*key, "init"),
                ).to(dev)  # fmt: skip
                fit = train_readout(
                    probe,
                    inputs("train", j, state, 0),
                    inputs("val", j, state, 0),
                    self.settings,
                    self._gen(*key),
                    vocab=vocab,
                )
                ce, _ = full_vocab_losses(
                    probe, inputs("test", j, state, 0), vocab, self.config.eval_batch_size
                )
                self.lookahead_ce[j][te_idx] = ce.numpy()
                self._record(f"lookahead j={j}", fold.index, fit, ce.numpy(), int(tr.sum()))

    def _no_state_and_with_state(
        self,
        fold: Fold,
        j: int,
        vocab: Vocab,
        state: torch.Tensor,
        inputs: Callable[[str, int, torch.Tensor | None, int], ProbeInputs],
        log_prior: torch.Tensor,
        masks: dict[str, np.ndarray],
    ) -> None:
        cfg, dev, rows = self.config, self.device, self.rows
        tr, va, te = masks["train"], masks["val"], masks["test"]
        te_idx = np.flatnonzero(te)
        fnp = rows.future.numpy()
        ntr = int(tr.sum())
        # Count n-grams: exact on the conditioning tokens, smoothing chosen on validation.
        if j <= cfg.ngram_max_j:
            marginal = fit_marginal(fnp[tr, j], fnp[va, j], self.vocab_size)
            ngram = fit_ngram(fnp[tr, :j], fnp[tr, j], fnp[va, :j], fnp[va, j], marginal)
            self._candidate("no", j, NGRAM).add(
                ngram.nll(fnp[va, :j], fnp[va, j]),
                te_idx,
                ngram.nll(fnp[te, :j], fnp[te, j]),
                np.full(te_idx.size, -1),
            )
            if len(rows) * vocab.num_classes <= RESIDUAL_MAX_CELLS:
                self._residual(fold, j, vocab, state, ngram, masks)
            else:
                self.skipped_residual = True
        # Model-free readouts: the no-state one, then the nested with-state one.
        key = (fold.index, j, MODEL_FREE)
        base = ModelFreeReadout(
            0, j, vocab.num_classes, cfg.rank, log_prior, self._gen(*key, "init")
        ).to(dev)
        fit = train_readout(
            base,
            inputs("train", j, None, j),
            inputs("val", j, None, j),
            self.settings,
            self._gen(*key, "no"),
            vocab=vocab,
        )
        self._evaluate("no", j, MODEL_FREE, base, fold, fit, vocab, inputs, None, ntr)
        with_state = base.nested_with_state(state.shape[1]).to(dev)
        fit = train_readout(
            with_state,
            inputs("train", j, state, j),
            inputs("val", j, state, j),
            self.settings,
            self._gen(*key, "with"),
            vocab=vocab,
        )
        self._evaluate("with", j, MODEL_FREE, with_state, fold, fit, vocab, inputs, state, ntr)
        if fold.index == 0 and j == 1:
            self.fold0_base, self.fold0_vocab = base, vocab
        if self.head is not None:
            self._frozen(fold, j, vocab, state, inputs, log_prior, masks)

    def _residual(
        self,
        fold: Fold,
        j: int,
        vocab: Vocab,
        state: torch.Tensor,
        ngram: NGram,
        masks: dict[str, np.ndarray],
    ) -> None:
        """The with-state readout nested on the count n-gram: it starts at the n-gram exactly."""
        fnp, dev = self.rows.future.numpy(), self.device
        probs = ngram.dense(fnp[:, :j], vocab.tokens.numpy())
        oov = np.clip(1.0 - probs.sum(axis=1, keepdims=True), 1e-12, None)
        offset = torch.from_numpy(np.log(np.maximum(np.hstack([probs, oov]), 1e-300))).float()
        classes = vocab.classes(self.rows.future)
        if fold.index == 0 and j == 1:
            self.fold0_offset = offset

        def part(split: str) -> ProbeInputs:
            m = torch.from_numpy(masks[split])
            return ProbeInputs(state[m], classes[m][:, :j], classes[m][:, j], offset[m]).to(dev)

        key = (fold.index, j, RESIDUAL)
        probe = ResidualReadout(
            state.shape[1], j, vocab.num_classes, self.config.rank, self._gen(*key, "init")
        ).to(dev)
        fit = train_readout(
            probe, part("train"), part("val"), self.settings, self._gen(*key), vocab=vocab
        )
        batch = self.config.eval_batch_size
        val_ce, _ = full_vocab_losses(probe, part("val"), vocab, batch)
        test_ce, argmax = full_vocab_losses(probe, part("test"), vocab, batch)
        cand = self._candidate("with", j, RESIDUAL)
        cand.add(val_ce.numpy(), np.flatnonzero(masks["test"]), test_ce.numpy(), argmax.numpy())
        cand.state_used |= probe.reads_state()
        ntr = int(masks["train"].sum())
        self._record(f"with-state {RESIDUAL} j={j}", fold.index, fit, test_ce.numpy(), ntr)

    def _frozen(
        self,
        fold: Fold,
        j: int,
        vocab: Vocab,
        state: torch.Tensor,
        inputs: Callable[[str, int, torch.Tensor | None, int], ProbeInputs],
        log_prior: torch.Tensor,
        masks: dict[str, np.ndarray],
    ) -> None:
        """The frozen-head readouts, trained on at most ``frozen_max_rows`` train rows."""
        assert self.head is not None
        rows, dev = self.rows, self.device
        tr = masks["train"]
        embed = self.contexts.embed
        tokens = rows.future[:, :j]
        tok_std = _Standardiser.fit(embed[rows.future[torch.from_numpy(tr), 0]])
        tok_feats = torch.cat([tok_std(embed[tokens[:, i]]) for i in range(j)], dim=1)
        d = int(self.head.unembed.shape[1])
        hidden0 = self.rows.state[torch.from_numpy(tr)].mean(0).to(dev)
        no_state = FrozenHeadReadout(self.head, vocab, tok_feats.shape[1], hidden0)
        no_state.fit_marginal_start(log_prior)
        sub = self._subsample(tr, fold.index)

        def train_in(x: torch.Tensor) -> ProbeInputs:
            return inputs("train", j, x, 0).take(torch.from_numpy(sub))

        fit = train_readout(
            no_state,
            train_in(tok_feats),
            inputs("val", j, tok_feats, 0),
            self.frozen_settings,
            self._gen(fold.index, j, FROZEN, "no"),
            vocab=vocab,
        )
        n_sub = int(sub.size)
        self._evaluate("no", j, FROZEN, no_state, fold, fit, vocab, inputs, tok_feats, n_sub, 0)
        both = torch.cat([state, tok_feats], dim=1)
        with_state = FrozenHeadReadout(self.head, vocab, both.shape[1], no_state.linear.bias)
        with torch.no_grad():
            with_state.linear.weight[:, state.shape[1] :] = no_state.linear.weight
            with_state.oov.copy_(no_state.oov)
        assert with_state.linear.weight.shape[0] == d
        fit = train_readout(
            with_state,
            train_in(both),
            inputs("val", j, both, 0),
            self.frozen_settings,
            self._gen(fold.index, j, FROZEN, "with"),
            vocab=vocab,
        )
        self._evaluate("with", j, FROZEN, with_state, fold, fit, vocab, inputs, both, n_sub, 0)

    def _subsample(self, mask: np.ndarray, fold: int) -> np.ndarray:
        n = int(mask.sum())
        cap = self.config.frozen_max_rows
        if n <= cap:
            return np.arange(n)
        return np.sort(self._np_rng(fold, "subsample").choice(n, size=cap, replace=False))

    def _evaluate(
        self,
        side: str,
        j: int,
        name: str,
        module: torch.nn.Module,
        fold: Fold,
        fit: object,
        vocab: Vocab,
        inputs: Callable[[str, int, torch.Tensor | None, int], ProbeInputs],
        x: torch.Tensor | None,
        train_rows: int,
        ntok: int | None = None,
    ) -> None:
        ntok = j if ntok is None else ntok
        batch = self.config.eval_batch_size
        val_ce, _ = full_vocab_losses(module, inputs("val", j, x, ntok), vocab, batch)
        test_ce, argmax = full_vocab_losses(module, inputs("test", j, x, ntok), vocab, batch)
        te_idx = np.flatnonzero(np.isin(self.rows.window, fold.test))
        cand = self._candidate(side, j, name)
        cand.add(val_ce.numpy(), te_idx, test_ce.numpy(), argmax.numpy())
        if side == "with":
            d = self.rows.state.shape[1]
            assert isinstance(module, ModelFreeReadout | FrozenHeadReadout)
            cand.state_used |= module.reads_state(d)
        label = f"{'with-state' if side == 'with' else 'no-state'} {name} j={j}"
        self._record(label, fold.index, fit, test_ce.numpy(), train_rows)

    # ---- the whole suite -----------------------------------------------------------------
    def run(self, ideal_surplus: dict[int, float] | None) -> SurplusOutput:
        self.progress(0.0, "surplus: probes")
        for fold in self.folds:
            self._fold(fold)
        rows, cfg = self.rows, self.config
        boot = ClusterBootstrap(rows.window, cfg.bootstrap_samples, self._np_rng("bootstrap"))
        pooled = boot.num_windows

        chosen: dict[int, tuple[str, str]] = {}
        ce_no: dict[int, np.ndarray] = {}
        ce_with: dict[int, np.ndarray] = {}
        terms: dict[int, SurplusTerm] = {}
        term_reps: dict[int, np.ndarray] = {}
        for j in self.offsets:
            no = {n: c for (s, jj, n), c in self.candidates.items() if s == "no" and jj == j}
            wi = {n: c for (s, jj, n), c in self.candidates.items() if s == "with" and jj == j}
            # A no-state predictor is also a (state-ignoring) with-state one: when it is the
            # tightest on both sides the term is exactly 0, never negative by readout misfit.
            wi.update({f"{n} (no state)": c for n, c in no.items()})
            no_name = min(no, key=lambda n: no[n].val_ce)
            with_name = min(wi, key=lambda n: wi[n].val_ce)
            chosen[j] = (no_name, with_name)
            ce_no[j], ce_with[j] = no[no_name].test_ce, wi[with_name].test_ce  # type: ignore[assignment]
            est, reps = boot.mean(*boot.per_window(rows.window, ce_no[j] - ce_with[j]))
            term_reps[j] = reps
            drafter = None
            if FROZEN in wi:
                frozen_ce = wi[FROZEN].test_ce
                assert frozen_ce is not None
                e, r = boot.mean(*boot.per_window(rows.window, ce_no[j] - frozen_ce))
                drafter = _interval(e, r)
            terms[j] = SurplusTerm(
                j=j,
                term=_interval(est, reps),
                ce_with_state=_r(float(np.nanmean(ce_with[j]))),
                ce_no_state=_r(float(np.nanmean(ce_no[j]))),
                num_test_contexts=int(np.isfinite(ce_no[j]).sum()),
                state_used=wi[with_name].state_used,
                no_state_candidates={n: _r(c.val_ce) for n, c in sorted(no.items())},
                with_state_candidates={n: _r(c.val_ce) for n, c in sorted(wi.items())},
                no_state_test={n: _mean(c.test_ce) for n, c in sorted(no.items())},
                with_state_test={n: _mean(c.test_ce) for n, c in sorted(wi.items())},
                no_state_choice=no_name,
                with_state_choice=with_name,
                drafter_term=drafter,
            )
        # Every row carries every offset, so term estimates add up exactly, replicate by replicate.
        ks = range(2, self.max_k + 1)
        surplus = {
            k: _interval(
                sum(terms[j].term.estimate for j in range(1, k)),
                np.sum([term_reps[j] for j in range(1, k)], axis=0),
            )
            for k in ks
        }
        verdict = {k: verdict_of(surplus[k].low, pooled, cfg.min_windows) for k in ks}
        detected = {k: verdict[k] == "detected" for k in ks}
        bounds = {
            k: SurplusBounds(
                high=_r(sum(terms[j].ce_no_state for j in range(1, k))),
                trivial_high=_r((k - 1) * math.log(self.vocab_size)),
            )
            for k in ks
        }
        ceiling = self._ceiling(boot, ce_no, term_reps, terms)
        lookahead = self._lookahead(boot) if cfg.lookahead else []
        drafting = self._drafting(chosen)
        per_layer = self._per_layer(ce_no) if cfg.per_layer else []
        capped = any(p.hit_cap for p in self.probes)
        h_y = float(np.nanmean(self.marginal_ce[min(1, self.max_k - 1)]))
        notes = self._notes(terms, surplus, bounds, verdict, pooled, capped, ideal_surplus)
        arrays = self._gains(ce_no, ce_with)
        self.progress(1.0, "surplus: done")
        counts = self._split_counts()
        suite = SurplusSuite(
            max_k=self.max_k,
            layer=self.last,
            num_contexts=counts[0],
            num_windows=counts[1],
            terms=terms,
            surplus=surplus,
            detected=detected,
            verdict=verdict,
            num_windows_pooled=pooled,
            folds=len(self.folds),
            all_positions=rows.all_positions,
            capped=capped,
            ceiling=ceiling,
            marginal_entropy=_r(h_y),
            vocab_train=round(float(np.mean(self.vocab_sizes))) if self.vocab_sizes else None,
            bounds=bounds,
            lookahead=lookahead,
            drafting=drafting,
            per_layer=per_layer,
            exact_surplus=ideal_surplus,
            probes=self.probes,
            seconds=round(time.perf_counter() - self.started, 3),
            notes=notes,
        )
        return SurplusOutput(suite, arrays)

    def _split_counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """Rows and windows per role in one fold (fold 0), and pooled test totals."""
        f = self.folds[0]
        roles = {"train": f.train, "val": f.val, "test": np.unique(self.rows.window)}
        rows = {k: int(np.isin(self.rows.window, v).sum()) for k, v in roles.items()}
        wins = {k: int(np.unique(v).size) for k, v in roles.items()}
        return rows, wins

    def _ceiling(
        self,
        boot: ClusterBootstrap,
        ce_no: dict[int, np.ndarray],
        term_reps: dict[int, np.ndarray],
        terms: dict[int, SurplusTerm],
    ) -> dict[int, ContextCeiling]:
        out: dict[int, ContextCeiling] = {}
        for j in self.offsets:
            gap = ce_no[j] - self.rows.model_nll[:, j]
            if not np.isfinite(gap).any():
                continue
            est, reps = boot.mean(*boot.per_window(self.rows.window, gap))
            share = None
            if est > 0:
                ratio = term_reps[j] / np.where(reps > 0, reps, np.nan)
                ratio = ratio[np.isfinite(ratio)]
                if ratio.size:
                    share = _interval(terms[j].term.estimate / est, ratio)
            out[j] = ContextCeiling(j=j, ceiling=_interval(est, reps), share=share)
        return out

    def _lookahead(self, boot: ClusterBootstrap) -> list[LookaheadInfo]:
        rows = self.rows
        out = []
        own = rows.model_nll[:, 0]
        if not np.isfinite(own).any():
            own = self._own_head_nll()
        for j in range(self.max_k):
            ce = own if j == 0 else self.lookahead_ce[j]
            h = self.marginal_ce[j]
            est, reps = boot.mean(*boot.per_window(rows.window, h - ce))
            out.append(
                LookaheadInfo(
                    j=j,
                    entropy_y=_r(float(np.nanmean(h))),
                    ce_state=_r(float(np.nanmean(ce))),
                    info=_interval(est, reps),
                )
            )
        return out

    @torch.no_grad()
    def _own_head_nll(self) -> np.ndarray:
        """The model's own NLL of y_t from h_t (contexts-only rows), in row chunks."""
        head = self.head or FrozenHead(self.contexts.head, self.device)
        out = []
        for lo in range(0, len(self.rows), self.config.eval_batch_size):
            hi = min(len(self.rows), lo + self.config.eval_batch_size)
            logits = head(self.rows.state[lo:hi].to(head.device))
            y = self.rows.future[lo:hi, 0].to(head.device)
            out.append(torch.nn.functional.cross_entropy(logits, y, reduction="none").cpu())
        return torch.cat(out).double().numpy()

    def _drafting(self, chosen: dict[int, tuple[str, str]]) -> DraftingProxy | None:
        acc: dict[int, float] = {}
        for j, (_, with_name) in chosen.items():
            side, name = (
                ("no", with_name[: -len(" (no state)")])
                if with_name.endswith(" (no state)")
                else ("with", with_name)
            )
            cand = self.candidates[(side, j, name)]
            known = self.rows.greedy[:, j] >= 0
            if known.any() and cand.argmax is not None:
                acc[j] = _r(float((cand.argmax[known] == self.rows.greedy[known, j]).mean()))
        if not acc:
            return None
        expected: dict[int, float] = {}
        for k in range(2, self.max_k + 1):
            total, prod = 0.0, 1.0
            for j in range(1, k):
                prod *= acc.get(j, 0.0)
                total += prod
            expected[k] = _r(total)
        return DraftingProxy(acc=acc, expected_accepted_length=expected)

    def _per_layer(self, ce_no: dict[int, np.ndarray]) -> list[LayerTerm]:
        """Term 1 per captured layer on the sampled contexts of fold 0 (other layers are kept
        only there). Each layer's readout is the "n-gram + state" one, starting at fold 0's
        count n-gram (the no-state side term 1 is measured against); without that table (a
        vocabulary too large for it) it is nested on fold 0's model-free no-state probe."""
        ctx, fold = self.contexts, self.folds[0]
        base, vocab = self.fold0_base, self.fold0_vocab
        if base is None or vocab is None or 1 not in ce_no:
            return []
        rows_of = self.rows.index_of(ctx.window_index.numpy(), ctx.position.numpy())
        win = ctx.window_index.numpy()
        masks = {
            "train": np.isin(win, fold.train) & (rows_of >= 0),
            "val": np.isin(win, fold.val) & (rows_of >= 0),
            "test": np.isin(win, fold.test) & (rows_of >= 0),
        }
        if not all(m.any() for m in masks.values()):
            return []
        row_index = torch.from_numpy(np.maximum(rows_of, 0))
        classes = vocab.classes(self.rows.future[row_index])
        offset = None if self.fold0_offset is None else self.fold0_offset[row_index]
        layers = self._layers_for_term1(sorted(ctx.hidden))
        boot = ClusterBootstrap(
            win[masks["test"]], self.config.bootstrap_samples, self._np_rng("per-layer")
        )
        no_state = ce_no[1][rows_of[masks["test"]]]
        out = []
        for layer in layers:
            std = _Standardiser.fit(ctx.hidden[layer][torch.from_numpy(masks["train"])].float())
            x = std(ctx.hidden[layer].float())

            def part(split: str, x: torch.Tensor = x) -> ProbeInputs:
                m = torch.from_numpy(masks[split])
                off = None if offset is None else offset[m]
                return ProbeInputs(x[m], classes[m][:, :1], classes[m][:, 1], off).to(self.device)

            gen = self._gen(0, 1, "layer", layer)
            probe: nn.Module = (
                base.nested_with_state(x.shape[1])
                if offset is None
                else ResidualReadout(x.shape[1], 1, vocab.num_classes, self.config.rank, gen)
            ).to(self.device)
            fit = train_readout(probe, part("train"), part("val"), self.settings, gen, vocab=vocab)
            ce, _ = full_vocab_losses(probe, part("test"), vocab, self.config.eval_batch_size)
            self._record(f"term1 layer={layer}", 0, fit, ce.numpy(), int(masks["train"].sum()))
            est, reps = boot.mean(*boot.per_window(win[masks["test"]], no_state - ce.numpy()))
            out.append(
                LayerTerm(
                    layer=layer,
                    term1=_interval(est, reps),
                    ce_with_state=_r(float(ce.mean())),
                )
            )
        return out

    def _layers_for_term1(self, captured: list[int]) -> list[int]:
        cfg = self.config
        if cfg.layers is not None:
            return [x for x in cfg.layers if x in captured]
        if len(captured) <= cfg.max_layers:
            return captured
        picks = np.linspace(0, len(captured) - 1, cfg.max_layers).round().astype(int)
        return sorted({captured[i] for i in picks})

    def _gains(
        self, ce_no: dict[int, np.ndarray], ce_with: dict[int, np.ndarray]
    ) -> dict[str, np.ndarray]:
        ctx = self.contexts
        idx = self.rows.index_of(ctx.window_index.numpy(), ctx.position.numpy())
        out = {}
        for j in self.offsets:
            gain = np.full(idx.size, np.nan, dtype=np.float32)
            hit = idx >= 0
            gain[hit] = (ce_no[j] - ce_with[j])[idx[hit]]
            out[f"surplus_gain_j{j}"] = gain
        return out

    def _notes(
        self,
        terms: dict[int, SurplusTerm],
        surplus: dict[int, Interval],
        bounds: dict[int, SurplusBounds],
        verdict: Mapping[int, str],
        pooled: int,
        capped: bool,
        ideal_surplus: dict[int, float] | None,
    ) -> list[str]:
        cfg = self.config
        notes = [
            f"Cross-fitted over {len(self.folds)} contiguous window folds: every window is test "
            f"once; intervals are a 95% cluster bootstrap over all {pooled} windows.",
            "Each side of term_j is the readout with the lowest validation CE (candidates: "
            "model-free readout, count n-grams, frozen-head readout), evaluated once on test.",
            "Probes train on every position of the train windows."
            if self.rows.all_positions
            else "Probes train on the sampled contexts only (no per-position states given).",
            "H(Y) is the held-out marginal (add-α unigram of train windows, α chosen on "
            "validation): model-free, the same for every model on the corpus.",
            "Lookahead information is from fold 0's readouts only (its test windows); the "
            "model's own head (j = 0) from every window.",
            "Drafting acc_j compares the chosen with-state readout (fed the true y_t…y_{t+j−1}) "
            "with the model's greedy token; expected accepted length assumes independence.",
        ]
        if self.head is not None:
            notes.append(
                f"The frozen-head readout trains on at most {cfg.frozen_max_rows} rows per fold "
                "(its softmax costs d × |V_train| per row)."
            )
        for j, term in terms.items():
            if term.state_used is False:
                notes.append(
                    f"term_{j}: state unused. The chosen with-state readout never beat its start "
                    "on validation, so early stopping kept its h_t weights at exactly zero: no "
                    f"information in h_t about Y_{{t+{j}}} beyond the given tokens was detectable "
                    "at this sample size. The value is a floor, not a measured zero; the upper "
                    "bound (bounds) still applies."
                )
        if verdict and all(v == "insufficient data" for v in verdict.values()):
            notes.append(
                f"Insufficient data: {pooled} windows pooled, a verdict needs {cfg.min_windows}. "
                "The interval is reported but not read as a detection."
            )
        missed = [k for k, v in verdict.items() if v == "not detected"]
        if missed:
            ranges = ", ".join(f"0 ≤ Surplus_{k} ≤ {bounds[k].high:.4g}" for k in missed)
            notes.append(
                f"Not detected (95% interval not above 0) for K = {', '.join(map(str, missed))}: "
                f"what the data support is {ranges} (the upper bound from the no-state side)."
            )
        if capped:
            names = sorted({p.name for p in self.probes if p.hit_cap})
            notes.append(
                "Capped: " + ", ".join(names) + " stopped at the step or epoch cap while "
                "validation was still improving; raise max_steps / max_epochs."
            )
        for k, exact in sorted((ideal_surplus or {}).items()):
            if k in surplus and surplus[k].low > exact:
                notes.append(
                    f"Surplus_{k} exceeds the exact value {exact:.4f} beyond its interval: "
                    "the no-state side is under-fitted or the sample is small."
                )
        return notes

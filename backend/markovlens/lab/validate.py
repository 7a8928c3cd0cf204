"""Estimate versus exact: run the real analysis on synthetic sources and compare with the truth.

For every source: the oracle model (a known-sufficient representation) and a tiny Llama trained
on the source (every checkpoint: a trajectory). Each row says what was estimated, its 95%
interval, the exact value and whether the estimator passed its check. ``run_analysis`` is
called directly (no server), with ``reference=`` so the result carries its ``exact`` section.

Every row is built by a small function (``*_row``) that compares an estimate with a value
other code computed, so a wrong estimator fails it; ``tests/lab/test_rows.py`` feeds each
one a deliberately broken estimator (docs/methods.md#lab).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, Field
from torch import nn

from markovlens.analysis.alignment import alignment, centered_eigen
from markovlens.analysis.architecture import introspect
from markovlens.analysis.exact import ExactReference
from markovlens.analysis.kernels import Kernel, prototypes
from markovlens.analysis.linalg import whitened_basis
from markovlens.analysis.pipeline import run_analysis
from markovlens.analysis.stats import bootstrap_mean
from markovlens.lab.exact import entropy, kl_per_position
from markovlens.lab.oracle import OracleLM
from markovlens.lab.synthetic_sources import SyntheticSource, get_source, source_names
from markovlens.lab.trainer import TrainConfig, TrainRun, torch_threads, train
from markovlens.schema.common import Interval
from markovlens.schema.config import AnalysisConfig, preset_config
from markovlens.schema.result import AnalysisResult, CorpusMeta, ModelMeta

Log = Callable[[str], None]
NLL_TOLERANCE = 0.05  # nats: a trained model must get this close to the entropy rate
SURPLUS_REL_TOLERANCE = 0.10
SURPLUS_ABS_TOLERANCE = 0.01  # nats: "close to an exact 0"
RECOMPUTE_TOLERANCE = 1e-4  # nats: capture stores per-token terms in fp32
SUFFICIENT_ALIGNMENT = 0.99
ALIGNMENT_REL_TOLERANCE = 0.10


class LabScale(BaseModel):
    """Sizes of one lab run (defaults: the full run, well under 10 minutes on 2 CPU cores)."""

    num_windows: int = Field(default=192, ge=8)
    window_len: int = Field(default=64, ge=16)
    n_contexts: int = Field(default=3072, ge=64)
    train_steps: int = Field(default=400, ge=1)
    checkpoints: list[int] = Field(default_factory=lambda: [0, 25, 50, 100, 200, 400])
    surplus_max_k: int = Field(default=4, ge=2, le=4)
    surplus_max_steps: int = Field(default=1000, ge=10)
    seed: int = 0
    threads: int = Field(default=1, ge=1, description="Torch CPU threads (see TrainConfig).")


class EstimateRow(BaseModel):
    """One estimate against its exact value."""

    source: str
    model: str
    quantity: str
    estimate: float
    low: float | None = None
    high: float | None = None
    exact: float
    check: str = Field(description="What is required of the estimate.")
    passed: bool | None = Field(default=None, description="None: reported, not a pass/fail.")


class TrajectoryPoint(BaseModel):
    """One checkpoint of a training run: the paper's claims as numbers."""

    step: int
    mean_nll: float
    mean_entropy: float
    mean_true_entropy: float
    mean_kl: float
    alignment: float = Field(description="Data-side K_proto alignment A at the last layer.")
    alignment_random: float
    lift: float
    exact_alignment: float = Field(description="A with the exact kernel ⟨ḡ*_i, ḡ*_j⟩.")
    exact_lift: float
    explained_fraction: float = Field(description="tr K*_c / tr K^data_c.")
    surplus_2: float | None = None


class SourceReport(BaseModel):
    source: str
    description: str
    entropy_rate: float
    ideal_surplus: dict[int, float]
    rows: list[EstimateRow]
    trajectory: list[TrajectoryPoint]
    run_name: str | None = None


class LabReport(BaseModel):
    scale: LabScale
    sources: list[SourceReport]
    seconds: float
    command: str


def lab_overrides(scale: LabScale, *, surplus: bool = True) -> dict[str, Any]:
    """Overrides of the quick preset sized for tiny synthetic corpora (also used for jobs).

    The surplus probes get enough steps to converge on these small problems (an under-trained
    no-state probe inflates the surplus estimate: measured 1.19 vs exact 0.38 nats on the
    lookahead oracle with the quick preset's 60 steps).
    """
    return {
        "seed": scale.seed,
        "window_len": scale.window_len,
        "max_tokens": scale.num_windows * scale.window_len,
        "n_contexts": scale.n_contexts,
        "bootstrap_samples": 500,
        "run_surplus": surplus,
        "surplus": {
            "max_k": scale.surplus_max_k,
            "max_steps": scale.surplus_max_steps,
            "max_epochs": 40,
            "lr": 0.01,
            "patience": 3,
            "per_layer": False,
            "lookahead": False,
            "bootstrap_samples": 500,
        },
        "spectral": {"rank": 64, "model_kernels": ["proto"], "dense_eigh_max_n": 512},
    }


def lab_config(scale: LabScale, *, surplus: bool = True) -> AnalysisConfig:
    """The analysis config of the lab: the quick preset with ``lab_overrides``."""
    return preset_config("quick", **lab_overrides(scale, surplus=surplus))


@dataclass
class Recomputed:
    """Per-position [windows, positions] terms recomputed by the lab from the model's logits
    and p*, independently of capture: KL(p*‖p), H(p*) and H(p), in float64."""

    kl: np.ndarray
    true_entropy: np.ndarray
    entropy: np.ndarray


def recompute(model: nn.Module, windows: torch.Tensor, true_probs: np.ndarray) -> Recomputed:
    """KL, H* and H(p) at every position from one plain forward pass (no capture code)."""
    with torch.no_grad():
        logits = model(input_ids=windows, use_cache=False).logits[:, :-1].double()
    probs = torch.softmax(logits, dim=-1).numpy()
    return Recomputed(
        kl=kl_per_position(true_probs, logits),
        true_entropy=entropy(true_probs),
        entropy=entropy(probs),
    )


@dataclass
class Evaluation:
    """A result plus the exact-kernel alignment per captured layer: {layer: (A, A_rand)}."""

    result: AnalysisResult
    arrays: dict[str, np.ndarray]
    exact_alignment: dict[int, tuple[float, float]]
    explained_fraction: float  # tr(K*_c) / tr(K^data_c)
    recomputed: Recomputed


def _hidden_at(
    model: nn.Module, windows: torch.Tensor, window_index: np.ndarray, position: np.ndarray
) -> dict[int, torch.Tensor]:
    """Residual stream after every block (0 = embeddings) at the given contexts, as capture
    records it (block outputs, before the final norm)."""
    arch = introspect(model)
    states: dict[int, torch.Tensor] = {}

    def keep(layer: int) -> Callable[..., None]:
        def hook(_m: nn.Module, args: Any, output: Any = None) -> None:
            value = args[0] if output is None else output
            value = value[0] if isinstance(value, tuple | list) else value
            states[layer] = value.detach().float()

        return hook

    handles = [arch.blocks[0].register_forward_pre_hook(keep(0))]
    handles += [b.register_forward_hook(keep(i + 1)) for i, b in enumerate(arch.blocks)]
    rows = torch.from_numpy(np.unique(window_index))
    try:
        with torch.no_grad():
            model(input_ids=windows[rows], use_cache=False)
    finally:
        for h in handles:
            h.remove()
    lookup = torch.full((windows.shape[0],), -1, dtype=torch.long)
    lookup[rows] = torch.arange(len(rows))
    w = lookup[torch.from_numpy(window_index).long()]
    p = torch.from_numpy(position).long()
    return {layer: s[w, p] for layer, s in states.items()}


def data_alignment(hidden: torch.Tensor, observed: torch.Tensor, ridge_eps: float) -> float:
    """Data-side K_proto alignment A of ``hidden`` with the observed next tokens' prototypes
    (``observed[i] = g(y_i)``), as the spectral suite computes it (exact eigendecomposition)."""
    kernel = Kernel("proto", "data", factor=observed)
    eig = centered_eigen(
        kernel, top=int(hidden.shape[1]), gen=torch.Generator(), dense_max_n=0, iterations=1
    )
    return alignment(whitened_basis(hidden, ridge_eps), eig, capture_top=1).alignment


def exact_alignment(
    model: nn.Module,
    windows: torch.Tensor,
    reference: ExactReference,
    arrays: dict[str, np.ndarray],
    ridge_eps: float,
) -> tuple[dict[int, tuple[float, float]], float]:
    """Per layer (A, A_rand) with the exact proto kernel ⟨ḡ*_i, ḡ*_j⟩, and the fraction
    ``tr(K*_c) / tr(K^data_c)`` of the data-side kernel's variance that the context explains.

    The data-side kernel is K* plus independent sampling noise (y_i ~ p*_i), which no
    representation can align with, so to first order the data-side estimate should be
    ``A_data ≈ A* · tr(K*_c) / tr(K^data_c)``: that is the exact value its row is checked
    against.
    """
    widx = arrays["context_window"].astype(np.int64)
    pos = arrays["context_position"].astype(np.int64)
    hidden = _hidden_at(model, windows, widx, pos)
    protos = prototypes(introspect(model).head.unembed).double()
    gbar = torch.from_numpy(reference.true_probs[widx, pos]) @ protos
    top = max(int(h.shape[1]) for h in hidden.values())
    kernel = Kernel("proto", "exact", factor=gbar)
    eig = centered_eigen(kernel, top=top, gen=torch.Generator(), dense_max_n=0, iterations=1)
    observed = protos[torch.from_numpy(windows[widx, pos + 1].numpy())]
    data_trace = Kernel("proto", "data", factor=observed).centered().trace()
    out = {}
    for layer, h in hidden.items():
        vals = alignment(whitened_basis(h, ridge_eps), eig, capture_top=1)
        out[layer] = (vals.alignment, vals.alignment_random)
    return out, eig.trace / data_trace


def evaluate(
    model: nn.Module,
    label: str,
    source: SyntheticSource,
    windows: torch.Tensor,
    reference: ExactReference,
    config: AnalysisConfig,
) -> Evaluation:
    """run_analysis with the exact reference, plus the exact-kernel alignment."""
    n, t = windows.shape
    corpus = CorpusMeta(
        source=f"synthetic:{source.name}",
        hash=f"lab-seed{config.seed}-{n}x{t}",
        num_windows=n,
        window_len=t,
        num_tokens=n * t,
    )
    output = run_analysis(model, windows, config, ModelMeta(source=label), corpus, None, reference)
    exact, explained = exact_alignment(
        model, windows, reference, output.arrays, config.spectral.ridge_eps
    )
    recomputed = recompute(model, windows, reference.true_probs)
    return Evaluation(output.result, output.arrays, exact, explained, recomputed)


def _last_layer_alignment(ev: Evaluation) -> tuple[float, float, float, float]:
    """(A, A_rand) data-side proto at the last layer, and the exact-kernel (A, A_rand)."""
    assert ev.result.spectral is not None
    last = max(ev.exact_alignment)
    row = next(
        a
        for a in ev.result.spectral.alignment
        if a.layer == last and a.kernel == "proto" and a.side == "data"
    )
    ex_a, ex_r = ev.exact_alignment[last]
    return row.alignment, row.alignment_random, ex_a, ex_r


class Check(BaseModel):
    """One row before it is labelled with its source and model: what a row builder returns."""

    quantity: str
    estimate: float
    exact: float
    check: str
    passed: bool | None
    low: float | None = None
    high: float | None = None


def _covers(iv: Interval, value: float) -> bool:
    return iv.low <= value <= iv.high


def _covers_row(quantity: str, iv: Interval, exact: float, check: str) -> Check:
    """A row that passes when the estimate's 95% interval covers the exact value."""
    return Check(
        quantity=quantity,
        estimate=iv.estimate,
        exact=exact,
        check=check,
        passed=_covers(iv, exact),
        low=iv.low,
        high=iv.high,
    )


def _mean_interval(per_token: np.ndarray, seed: int, samples: int = 500) -> Interval:
    """Mean of a [windows, positions] array with its 95% bootstrap interval over windows."""
    values = np.asarray(per_token, dtype=np.float64)
    counts = np.full(values.shape[0], values.shape[1], dtype=np.float64)
    return bootstrap_mean(values.sum(1), counts, samples, np.random.default_rng(seed))


def recomputed_exact_row(
    stored_kl: np.ndarray,
    stored_true_entropy: np.ndarray,
    recomputed: Recomputed,
) -> Check:
    """Capture's per-position KL(p*‖p) and H* against an independent recomputation.

    The lab recomputes both from the model's own logits and p* (``lab/exact.py``): a capture
    that pairs p* with the wrong position, or a wrong KL formula, fails this row.
    """
    err = max(
        float(np.abs(stored_kl.astype(np.float64) - recomputed.kl).max()),
        float(np.abs(stored_true_entropy.astype(np.float64) - recomputed.true_entropy).max()),
    )
    return Check(
        quantity="per-position KL(p*‖p) and H*: capture vs recomputed from logits (max |Δ|)",
        estimate=err,
        exact=0.0,
        check=f"≤ {RECOMPUTE_TOLERANCE:g} (fp32 storage)",
        passed=err <= RECOMPUTE_TOLERANCE,
    )


def nll_minus_cross_entropy_row(diff: Interval) -> Check:
    """mean(NLL − CE(p*, p)): the NLL is a sample of CE (y ~ p*), so 0 must be covered."""
    return _covers_row(
        "mean NLL − mean CE(p*, p) (sampling noise)",
        diff,
        0.0,
        "interval covers 0",
    )


def kl_row(kl_hat: Interval, exact_kl: float) -> Check:
    """mean KL estimated from the NLL and the truth's entropy, against the exact mean KL."""
    return _covers_row(
        "mean KL(p*‖p) estimated as mean(NLL − H*)",
        kl_hat,
        exact_kl,
        "interval covers exact KL",
    )


def entropy_row(mean_entropy: Interval, exact_mean_entropy: float) -> Check:
    """The entropy suite's mean H(p) against H(p) recomputed from the model's logits."""
    return _covers_row(
        "mean categorical entropy H(p): entropy suite vs recomputed from logits",
        mean_entropy,
        exact_mean_entropy,
        "interval covers exact",
    )


def nll_row(mean_nll: Interval, mean_true_entropy: float) -> Check:
    """Mean NLL against the mean exact H* over the *same* positions (not the entropy rate:
    early positions have higher H*). No model beats the truth in expectation (NLL ≥ H*
    within the interval) and a model that has learnt the source is within the tolerance."""
    ok = mean_nll.high >= mean_true_entropy and mean_nll.low <= mean_true_entropy + NLL_TOLERANCE
    return Check(
        quantity="mean NLL vs mean H* over the same positions",
        estimate=mean_nll.estimate,
        exact=mean_true_entropy,
        check=f"0 ≤ NLL − H* ≤ {NLL_TOLERANCE} nats within the interval",
        passed=ok,
        low=mean_nll.low,
        high=mean_nll.high,
    )


def calibration_row(gap: Interval, exact_gap: float) -> Check:
    """The calibration gap mean(NLL) − mean(H(p)) against mean CE − mean H(p), both exact
    terms recomputed from the logits and p*."""
    return _covers_row(
        "calibration gap mean(NLL) − mean(H(p))",
        gap,
        exact_gap,
        "interval covers exact CE − H(p)",
    )


def surplus_estimates(result: AnalysisResult) -> dict[int, tuple[Interval, bool]]:
    """Surplus_K by K: (interval, detected). The one place the lab reads the surplus schema."""
    suite = result.surplus
    if suite is None:
        return {}
    return {
        int(k): (iv, bool(suite.detected.get(k, iv.low > 0))) for k, iv in suite.surplus.items()
    }


def surplus_row(k: int, iv: Interval, detected: bool, exact: float, *, two_sided: bool) -> Check:
    """Surplus_K against the ideal surplus.

    Two-sided where the exact value of *this* representation is known (a sufficient state
    read by sufficient probes, or a source whose every state has zero surplus): the interval
    covers it (or the estimate is within 10% / 0.01 nats) and the verdict agrees — an
    estimator that always returns 0 fails where the exact value is positive, one that
    detects surplus on a Markov chain fails there. Otherwise only the upper side is known
    (data processing: no state carries more than the ideal statistic), which rejects the
    inflated estimates of an under-fitted no-state baseline.
    """
    if two_sided:
        close = abs(iv.estimate - exact) <= max(
            SURPLUS_REL_TOLERANCE * exact, SURPLUS_ABS_TOLERANCE
        )
        verdict_ok = detected == (exact > SURPLUS_ABS_TOLERANCE)
        ok = (_covers(iv, exact) or close) and verdict_ok
        check = "interval covers exact (or within 10%), verdict agrees"
    else:
        ok = iv.low <= exact + 1e-9
        check = "upper bound only: does not exceed exact beyond interval"
    return Check(
        quantity=f"Surplus_{k}",
        estimate=iv.estimate,
        exact=exact,
        check=check,
        passed=ok,
        low=iv.low,
        high=iv.high,
    )


def surplus_two_sided(source: SyntheticSource, ideal: dict[int, float], *, oracle: bool) -> bool:
    """Whether the exact surplus of the evaluated representation is known (see surplus_row)."""
    if all(abs(v) <= 1e-12 for v in ideal.values()):
        return True  # every representation of a zero-surplus source has zero surplus
    return oracle and source.affine_sufficient


def alignment_row(a: float, predicted: float) -> Check:
    """Data-side K_proto A against A*·tr K*_c / tr K^data_c (see ``exact_alignment``)."""
    return Check(
        quantity="data-side K_proto alignment A, last layer (exact: A*·tr K*_c / tr K^data_c)",
        estimate=a,
        exact=predicted,
        check=f"within {ALIGNMENT_REL_TOLERANCE:.0%}",
        passed=abs(a - predicted) <= ALIGNMENT_REL_TOLERANCE * predicted,
    )


def sufficient_alignment_row(exact_a: float) -> Check:
    """The oracle's state is sufficient by construction: A with the exact kernel is 1."""
    return Check(
        quantity="K_proto alignment A* with the exact kernel, last layer (sufficient state)",
        estimate=exact_a,
        exact=1.0,
        check=f"≥ {SUFFICIENT_ALIGNMENT:g}",
        passed=exact_a >= SUFFICIENT_ALIGNMENT,
    )


def rows_for(
    ev: Evaluation, source: SyntheticSource, label: str, *, oracle: bool, config: AnalysisConfig
) -> list[EstimateRow]:
    """Every estimate of one evaluation against its exact value; every row can fail."""
    res, arrays, rc = ev.result, ev.arrays, ev.recomputed
    ex = res.exact
    assert ex is not None
    summary = res.entropy.summary
    nll = arrays["nll"].astype(np.float64)
    checks = [
        recomputed_exact_row(arrays["exact_kl"], arrays["exact_true_entropy"], rc),
        nll_minus_cross_entropy_row(ex.nll_minus_cross_entropy),
        kl_row(
            _mean_interval(nll - arrays["exact_true_entropy"], config.seed), ex.mean_kl.estimate
        ),
        entropy_row(summary.mean_entropy, float(rc.entropy.mean())),
        nll_row(summary.mean_nll, ex.mean_true_entropy.estimate),
        calibration_row(
            summary.calibration_gap, float((rc.kl + rc.true_entropy - rc.entropy).mean())
        ),
    ]
    ideal = {int(k): float(v) for k, v in ex.ideal_surplus.items()}
    two_sided = surplus_two_sided(source, ideal, oracle=oracle)
    for k, (iv, detected) in sorted(surplus_estimates(res).items()):
        if k in ideal:
            checks.append(surplus_row(k, iv, detected, ideal[k], two_sided=two_sided))
    if res.spectral is not None:
        a, _a_rand, ex_a, _ex_rand = _last_layer_alignment(ev)
        checks.append(alignment_row(a, ex_a * ev.explained_fraction))
        if oracle:
            checks.append(sufficient_alignment_row(ex_a))
    return [EstimateRow(source=source.name, model=label, **c.model_dump()) for c in checks]


def trajectory_point(step: int, ev: Evaluation) -> TrajectoryPoint:
    ex = ev.result.exact
    assert ex is not None
    a, a_rand, ex_a, ex_rand = _last_layer_alignment(ev)
    surplus = surplus_estimates(ev.result).get(2)
    return TrajectoryPoint(
        step=step,
        mean_nll=ev.result.entropy.summary.mean_nll.estimate,
        mean_entropy=ev.result.entropy.summary.mean_entropy.estimate,
        mean_true_entropy=ex.mean_true_entropy.estimate,
        mean_kl=ex.mean_kl.estimate,
        alignment=a,
        alignment_random=a_rand,
        lift=a / a_rand,
        exact_alignment=ex_a,
        exact_lift=ex_a / ex_rand,
        explained_fraction=ev.explained_fraction,
        surplus_2=surplus[0].estimate if surplus is not None else None,
    )


def validate_source(
    name: str, scale: LabScale, out_dir: Path, log: Log, *, train_model: bool = True
) -> SourceReport:
    """Oracle and trained-model rows plus the training trajectory for one source."""
    source = get_source(name)
    windows, reference = source.sample_windows(scale.num_windows, scale.window_len, 10_000)
    full, light = lab_config(scale), lab_config(scale, surplus=False)
    t0 = time.perf_counter()
    oracle = evaluate(OracleLM(source.process), "oracle", source, windows, reference, full)
    rows = rows_for(oracle, source, "oracle", oracle=True, config=full)
    log(f"[{name}] oracle analysed in {time.perf_counter() - t0:.0f}s")
    trajectory: list[TrajectoryPoint] = []
    run: TrainRun | None = None
    if train_model:
        cfg = TrainConfig(
            source=name,
            steps=scale.train_steps,
            checkpoints=scale.checkpoints,
            out_dir=out_dir,
            seed=scale.seed,
        )
        run = train(cfg, log=lambda m: log(f"[{name}] {m}"))
        from transformers import AutoModelForCausalLM

        for ck in run.checkpoints:
            final = ck is run.checkpoints[-1]
            model = AutoModelForCausalLM.from_pretrained(ck.path, dtype=torch.float32)
            ev = evaluate(
                model, f"trained@{ck.step}", source, windows, reference, full if final else light
            )
            trajectory.append(trajectory_point(ck.step, ev))
            log(f"[{name}] step {ck.step}: {trajectory[-1].model_dump_json()}")
            if final:
                rows += rows_for(ev, source, f"trained@{ck.step}", oracle=False, config=full)
    return SourceReport(
        source=name,
        description=source.description,
        entropy_rate=reference.entropy_rate,
        ideal_surplus=reference.ideal_surplus,
        rows=rows,
        trajectory=trajectory,
        run_name=run.run_name if run else None,
    )


def run_lab(
    scale: LabScale,
    out_dir: Path,
    sources: list[str] | None = None,
    log: Log | None = None,
    command: str = "markovlens lab validate",
) -> LabReport:
    """The whole lab: every source (or ``sources``), oracle and trained model."""
    say = log or (lambda _m: None)
    started = time.perf_counter()
    with torch_threads(scale.threads):
        reports = [validate_source(n, scale, out_dir, say) for n in (sources or source_names())]
    return LabReport(
        scale=scale, sources=reports, seconds=time.perf_counter() - started, command=command
    )


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    if x == 0:
        return "0"  # also −0.0
    return f"{x:.4g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def _cell(text: str) -> str:
    """A table cell: a literal "|" (as in "max |Δ|") would end the cell."""
    return text.replace("|", "\\|")


def render_markdown(report: LabReport) -> str:
    """The estimate-versus-exact tables and trajectories as Markdown."""
    lines = [
        "## Estimate versus exact",
        "",
        f"Reproduce: `{report.command}` ({report.seconds / 60:.1f} min on this machine). "
        f"Corpus per source: {report.scale.num_windows} windows × {report.scale.window_len} "
        f"tokens, N = {report.scale.n_contexts} sampled contexts; intervals are 95% bootstrap "
        "over windows.",
        "",
        "| source | model | quantity | estimate | 95% interval | exact | check | pass |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for src in report.sources:
        for r in src.rows:
            interval = f"[{_fmt(r.low)}, {_fmt(r.high)}]" if r.low is not None else ""
            verdict = {True: "yes", False: "**no**", None: "—"}[r.passed]
            lines.append(
                f"| {r.source} | {r.model} | {_cell(r.quantity)} | {_fmt(r.estimate)} | "
                f"{interval} | {_fmt(r.exact)} | {_cell(r.check)} | {verdict} |"
            )
    for src in report.sources:
        if not src.trajectory:
            continue
        lines += [
            "",
            f"### Training trajectory: `{src.run_name}` (synthetic:{src.source})",
            "",
            f"Entropy rate {src.entropy_rate:.4f} nats. A, A_rand: data-side K_proto alignment "
            "at the last layer; exact: the same with the exact kernel ⟨ḡ*_i, ḡ*_j⟩; "
            "tr K*_c / tr K^data_c: the share of the data-side kernel's variance the context "
            "explains (it depends on the model's own prototypes g(w)).",
            "",
            "| step | mean NLL | mean H(p) | mean H* | KL | A | A_rand | A/A_rand | exact A | "
            "exact A/A_rand | tr K*_c / tr K^data_c | Surplus_2 |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for p in src.trajectory:
            lines.append(
                f"| {p.step} | {p.mean_nll:.4f} | {p.mean_entropy:.4f} | "
                f"{p.mean_true_entropy:.4f} | {p.mean_kl:.4f} | {p.alignment:.3f} | "
                f"{p.alignment_random:.3f} | {p.lift:.1f} | {p.exact_alignment:.3f} | "
                f"{p.exact_lift:.1f} | {p.explained_fraction:.3f} | {_fmt(p.surplus_2)} |"
            )
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- lab-validate:begin -->", "<!-- lab-validate:end -->"


def write_markdown_block(path: Path, text: str) -> None:
    """Replace the generated block of ``path`` (between the markers), keeping the prose."""
    block = f"{BEGIN}\n{text}{END}\n"
    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        new = head + block + tail
    else:
        new = old + ("\n" if old else "") + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)

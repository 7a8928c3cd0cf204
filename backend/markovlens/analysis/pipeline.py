"""run_analysis: one model, token windows and a config in; an AnalysisOutput out.

The analysis is a fixed list of named stages (``STAGES``) that share one ``AnalysisRun``:
introspect → plan contexts → one capture pass (per-token stats, hidden states at the N
contexts) → lens (held-out marginal H(Y), fidelity check, per-layer lens) → hand-off → surplus
and spectral suites (when enabled and present) → aggregates with bootstrap intervals; then the
provenance. Each stage owns a share of the progress bar; a timed stage adds its seconds to the
provenance's ``stage_seconds`` under its name.
"""

from __future__ import annotations

import importlib
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np
import torch

from markovlens.analysis.architecture import ModelArchitecture, introspect
from markovlens.analysis.capture import (
    CaptureOutput,
    ContextPlan,
    build_sampled_contexts,
    capture_pass,
    sample_contexts,
)
from markovlens.analysis.contexts import SampledContexts
from markovlens.analysis.entropy import summarize_entropy
from markovlens.analysis.exact import ExactReference, exact_comparison
from markovlens.analysis.head import HeadSpec
from markovlens.analysis.lens import (
    LensFidelityError,
    check_fidelity,
    default_tolerance,
    lens_suite,
)
from markovlens.analysis.marginal import held_out_entropy
from markovlens.schema.config import AnalysisConfig, select_layers
from markovlens.schema.entropy import EntropySuite
from markovlens.schema.exact_comparison import ExactComparison
from markovlens.schema.lens import LensFidelity, LensSuite
from markovlens.schema.result import (
    AnalysisOutput,
    AnalysisResult,
    ContextsInfo,
    CorpusMeta,
    ModelMeta,
    Provenance,
)

ProgressFn = Callable[[float, str], None]


def _noop_progress(fraction: float, stage: str) -> None:
    return None


@dataclass
class AnalysisRun:
    """One analysis in progress: the inputs, and what each stage leaves for the next ones.

    Fields without a default are set by the stage that produces them (see ``STAGES``).
    """

    model: torch.nn.Module
    windows: torch.Tensor  # [n, T] token ids; int64 on CPU once validated
    config: AnalysisConfig
    model_meta: ModelMeta
    corpus_meta: CorpusMeta
    report: ProgressFn
    reference: ExactReference | None
    started: float = field(default_factory=time.perf_counter)
    seconds: dict[str, float] = field(default_factory=dict)  # provenance stage_seconds
    notes: list[str] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    suite_fns: dict[str, Callable[..., Any]] = field(default_factory=dict)  # present & enabled
    suites: dict[str, Any] = field(default_factory=dict)  # surplus / spectral results
    lens: LensSuite | None = None
    exact: ExactComparison | None = None
    # set by the stages
    arch: ModelArchitecture = field(init=False)
    layers: list[int] = field(init=False)
    plan: ContextPlan = field(init=False)
    capture: CaptureOutput = field(init=False)
    h_y: float = field(init=False)  # held-out marginal entropy H(Y), nats
    contexts: SampledContexts = field(init=False)
    entropy: EntropySuite = field(init=False)

    @property
    def device(self) -> torch.device:
        """The analysis workspace: the first parameter's device."""
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def model_devices(self) -> list[torch.device]:
        """Every device holding parameters (a model spread with device_map has several)."""
        return sorted({p.device for p in self.model.parameters()}, key=str)


@dataclass(frozen=True)
class Stage:
    """One named step of run_analysis.

    ``share`` is its (start, end) on the progress bar; ``timed`` adds its seconds to the
    provenance's ``stage_seconds[name]``; ``when`` skips it (untimed) where it does not apply.
    """

    name: str
    run: Callable[[AnalysisRun, ProgressFn], None]
    share: tuple[float, float] = (0.0, 0.0)
    timed: bool = False
    when: Callable[[AnalysisRun], bool] = lambda _run: True

    def progress(self, report: ProgressFn) -> ProgressFn:
        """``report`` rescaled to this stage's share, labels prefixed with its name."""
        lo, hi = self.share

        def inner(fraction: float, sub: str) -> None:
            label = sub if sub.startswith(self.name) else f"{self.name}: {sub}"
            report(lo + (hi - lo) * min(max(fraction, 0.0), 1.0), label)

        return inner


def library_versions() -> dict[str, str]:
    """Versions of the libraries a number depends on."""
    versions = {"python": platform.python_version()}
    for name in ("markovlens", "torch", "transformers", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def _optional_suite(module: str, function: str) -> Callable[..., Any] | None:
    """Engineer B's suites, if this build has them (the pipeline works without)."""
    try:
        mod = importlib.import_module(f"markovlens.analysis.{module}")
    except ModuleNotFoundError as exc:
        if exc.name == f"markovlens.analysis.{module}":
            return None
        raise
    fn = getattr(mod, function, None)
    return fn if callable(fn) else None


def _validate_windows(windows: torch.Tensor, vocab_size: int) -> None:
    if windows.dim() != 2 or windows.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"windows must be an integer tensor [n, T], got {tuple(windows.shape)}")
    if windows.numel() and (int(windows.min()) < 0 or int(windows.max()) >= vocab_size):
        raise ValueError(
            f"token ids run {int(windows.min())}..{int(windows.max())}, outside the model's "
            f"vocabulary of {vocab_size}"
        )


@torch.no_grad()
def run_analysis(
    model: torch.nn.Module,
    windows: torch.Tensor,
    config: AnalysisConfig,
    model_meta: ModelMeta,
    corpus_meta: CorpusMeta,
    progress: ProgressFn | None = None,
    reference: ExactReference | None = None,
) -> AnalysisOutput:
    """Analyse ``model`` on ``windows`` ([num_windows, window_len] token ids)."""
    run = AnalysisRun(
        model, windows, config, model_meta, corpus_meta, progress or _noop_progress, reference
    )
    for stage in STAGES:
        if not stage.when(run):
            continue
        t0 = time.perf_counter()
        stage.run(run, stage.progress(run.report))
        if stage.timed:
            run.seconds[stage.name] = time.perf_counter() - t0
    run.seconds["total"] = time.perf_counter() - run.started
    result = _result(run)
    run.report(1.0, "done")
    return AnalysisOutput(result=result, arrays=run.arrays)


def _introspect(run: AnalysisRun, progress: ProgressFn) -> None:
    """Find the model's blocks and head; check the windows against its vocabulary."""
    for used in run.model_devices:
        if used.type == "cuda":
            torch.cuda.reset_peak_memory_stats(used)
    run.model.eval()
    progress(0.0, "introspect")
    run.arch = introspect(run.model)
    _validate_windows(run.windows, _vocab(run.arch.head))
    run.windows = run.windows.long().cpu()
    run.layers = select_layers(run.config, run.arch.num_layers)


def _plan(run: AnalysisRun, progress: ProgressFn) -> None:
    """Sample the N contexts and split their windows into probe-train / val / test."""
    config = run.config
    n_windows, window_len = run.windows.shape
    run.plan = sample_contexts(
        n_windows,
        window_len,
        config.n_contexts,
        min_position=config.min_position,
        horizon=config.horizon,
        seed=config.seed,
        split_fractions=(
            config.train_fraction,
            config.val_fraction,
            1.0 - config.train_fraction - config.val_fraction,
        ),
        split=config.split,
    )
    run.notes += [
        "Entropies and NLL in nats. Intervals: 95% bootstrap over windows.",
        "Lens, surplus and spectral suites use the N sampled contexts; per-token statistics "
        "use every token.",
        f"ECE over {config.ece_bins} equal-mass bins of top-1 confidence.",
    ]


def _capture(run: AnalysisRun, progress: ProgressFn) -> None:
    """One pass of the model over every window; the per-token and per-context arrays."""
    run.capture = capture_pass(
        run.model,
        run.windows,
        run.arch,
        run.layers,
        run.plan,
        batch_size=run.config.batch_size,
        fidelity_contexts=run.config.lens.fidelity_contexts,
        true_probs=run.reference.true_probs if run.reference is not None else None,
        progress=progress,
        # The surplus probes read the last layer at every position of the windows.
        full_layers=(run.arch.num_layers,) if run.config.run_surplus else (),
    )
    run.notes += [*run.corpus_meta.notes, *run.capture.notes]
    plan = run.plan
    run.arrays.update(run.capture.token_arrays)
    run.arrays["context_window"] = plan.window_index.numpy().astype(np.int32)
    run.arrays["context_position"] = plan.position.numpy().astype(np.int32)
    run.arrays["context_split"] = plan.split.numpy()
    run.arrays["token_ids"] = run.windows.numpy().astype(np.int32)  # the token view (decoded later)


def _lens(run: AnalysisRun, progress: ProgressFn) -> None:
    """H(Y), then the fidelity check (a mis-wired head fails the job), then every layer's lens."""
    targets, test_contexts = _held_out_marginal(run)
    lens_head = run.arch.head.to(run.device, torch.float32)
    fidelity = _require_fidelity(run, lens_head)
    if not run.config.lens.enabled:
        return
    run.lens, lens_arrays = lens_suite(
        run.capture.hidden,
        lens_head,
        targets,
        fidelity,
        run.h_y,
        test_mask=torch.from_numpy(test_contexts),
        chunk=run.config.lens.context_chunk,
        progress=progress,
    )
    run.lens.architecture = run.arch.describe()
    run.arrays.update(lens_arrays)


def _held_out_marginal(run: AnalysisRun) -> tuple[torch.Tensor, np.ndarray]:
    """Set ``run.h_y``; return the contexts' next tokens and the test-context mask.

    H(Y) is the model-free held-out marginal, fitted on probe-train windows (α on probe-val)
    and evaluated on the test contexts, the same contexts the lens's CE^ℓ is averaged over.
    """
    plan, windows = run.plan, run.windows
    window_split = np.full(windows.shape[0], -1, dtype=np.int8)
    window_split[plan.window_index.numpy()] = plan.split.numpy()
    test_contexts = (plan.split == 2).numpy()
    targets = windows[plan.window_index, plan.position + 1]
    run.h_y, _marginal = held_out_entropy(
        windows[:, 1:].numpy(), window_split, targets.numpy()[test_contexts], _vocab(run.arch.head)
    )
    return targets, test_contexts


def _require_fidelity(run: AnalysisRun, lens_head: HeadSpec) -> LensFidelity:
    """The lens at the last layer against the model's own logits; raises when they differ."""
    capture, dtype = run.capture, run.dtype
    n_fid = capture.fidelity_logits.shape[0]
    tolerance = run.config.lens.fidelity_tolerance or default_tolerance(dtype)
    # In reduced precision the check reruns the head in the model's own dtype (the hidden
    # states were captured losslessly from it), so bf16 rounding is not mistaken for miswiring;
    # the lens statistics themselves are computed in fp32.
    full_precision = dtype in (torch.float32, torch.float64)
    fid_head = lens_head if full_precision else run.arch.head.to(run.device, dtype)
    last = capture.hidden[run.arch.num_layers][:n_fid]
    fidelity = check_fidelity(fid_head, last, capture.fidelity_logits, tolerance)
    if not fidelity.passed:
        raise LensFidelityError(
            f"lens fidelity check failed for {run.arch.family}: the lens at the last layer "
            f"differs from the model's logits by {fidelity.max_relative_error:.2e} (relative; "
            f"tolerance {tolerance:.0e}). The final norm or unembedding is wired wrong for this "
            f"architecture: {run.arch.describe()}"
        )
    return fidelity


def _handoff(run: AnalysisRun, progress: ProgressFn) -> None:
    """The sampled contexts for the suites, and which suites this build has."""
    run.contexts = build_sampled_contexts(
        run.windows, run.plan, run.capture, run.arch, run.config.seed
    )
    for name, enabled in (
        ("surplus", run.config.run_surplus),
        ("spectral", run.config.run_spectral),
    ):
        if not enabled:
            continue
        suite_fn = _optional_suite(name, f"{name}_suite")
        if suite_fn is None:
            run.notes.append(f"{name} suite not available in this build")
            continue
        if name == "surplus":
            suite_fn = _optional_suite(name, "surplus_analysis") or suite_fn
        run.suite_fns[name] = suite_fn


def _suite_rng(run: AnalysisRun) -> np.random.Generator:
    # One generator per suite, derived from the job seed: suites stay reproducible
    # independently of each other.
    return np.random.default_rng([run.config.seed, len(run.suites) + 1])


def _surplus(run: AnalysisRun, progress: ProgressFn) -> None:
    """The information-surplus suite; its per-context gains join the arrays."""
    extra: dict[str, Any] = {}
    if run.reference is not None and run.reference.ideal_surplus:
        extra["ideal_surplus"] = dict(run.reference.ideal_surplus)
    last = run.arch.num_layers
    extra["windows"] = _window_data(run.windows, run.capture, run.arrays, last, run.config)
    rng = _suite_rng(run)
    # run_analysis is no_grad for the forward passes; probes and Jacobians need autograd.
    with torch.enable_grad():
        out = run.suite_fns["surplus"](run.contexts, run.config.surplus, rng, progress, **extra)
    if hasattr(out, "arrays"):
        run.arrays.update(out.arrays)  # per-context gains, aligned with the contexts
        out = out.suite
    run.suites["surplus"] = out


def _spectral(run: AnalysisRun, progress: ProgressFn) -> None:
    """The spectral-alignment suite."""
    rng = _suite_rng(run)
    with torch.enable_grad():
        run.suites["spectral"] = run.suite_fns["spectral"](
            run.contexts, run.config.spectral, rng, progress
        )


def _aggregate(run: AnalysisRun, progress: ProgressFn) -> None:
    """The entropy suite's summaries and, on a synthetic corpus, the exact comparison."""
    progress(0.0, "aggregate")
    config, arrays = run.config, run.arrays
    rng = np.random.default_rng(config.seed)
    run.entropy = summarize_entropy(
        arrays["nll"],
        arrays["entropy"],
        arrays["gini"],
        arrays["top1_hit"],
        arrays["top1_conf"],
        config.bootstrap_samples,
        rng,
        ece_bins=config.ece_bins,
        reliability_bins=config.reliability_bins,
        unigram_entropy=run.h_y,
    )
    if run.reference is not None:
        run.exact = exact_comparison(run.reference, arrays, config.bootstrap_samples, rng)


# The stages in order. Shares of the progress bar: the capture pass dominates on CPU.
STAGES: tuple[Stage, ...] = (
    Stage("introspect", _introspect),
    Stage("plan", _plan),
    Stage("capture", _capture, (0.0, 0.5), timed=True),
    Stage("lens", _lens, (0.5, 0.6), timed=True),
    Stage("handoff", _handoff, (0.6, 0.6)),
    Stage("surplus", _surplus, (0.6, 0.8), timed=True, when=lambda r: "surplus" in r.suite_fns),
    Stage("spectral", _spectral, (0.8, 0.95), timed=True, when=lambda r: "spectral" in r.suite_fns),
    Stage("aggregate", _aggregate, (0.95, 1.0), timed=True),
)


def _result(run: AnalysisRun) -> AnalysisResult:
    """The sections and the provenance."""
    return AnalysisResult(
        provenance=_provenance(run),
        entropy=run.entropy,
        contexts=_contexts_info(run),
        lens=run.lens,
        surplus=run.suites.get("surplus"),
        spectral=run.suites.get("spectral"),
        exact=run.exact,
    )


def _contexts_info(run: AnalysisRun) -> ContextsInfo:
    plan = run.plan
    split_names = ("train", "val", "test")
    return ContextsInfo(
        num_contexts=plan.num_contexts,
        layers=run.layers,
        min_position=run.config.min_position,
        horizon=plan.horizon,
        split_counts={n: int((plan.split == i).sum()) for i, n in enumerate(split_names)},
        split_windows={
            n: len(set(plan.window_index[plan.split == i].tolist()))
            for i, n in enumerate(split_names)
        },
    )


def _provenance(run: AnalysisRun) -> Provenance:
    devices = run.model_devices
    return Provenance(
        model=run.model_meta,
        corpus=run.corpus_meta,
        config=run.config,
        seed=run.config.seed,
        versions=library_versions(),
        device="+".join(str(used) for used in devices),
        dtype=str(run.dtype).removeprefix("torch."),
        stage_seconds=run.seconds,
        peak_memory_bytes=_peak_memory_bytes(devices),
        notes=[*run.notes, f"capture batch size {run.capture.batch_size} windows"],
    )


def _vocab(head: HeadSpec) -> int:
    return int(head.unembed.shape[0])


def _window_data(
    windows: torch.Tensor,
    capture: CaptureOutput,
    arrays: dict[str, np.ndarray],
    last: int,
    config: AnalysisConfig,
) -> Any:
    """The surplus suite's per-position inputs (None when the capture kept no full states)."""
    from markovlens.analysis.surplus_data import WindowData

    states = capture.full_states.get(last)
    if states is None:
        return None
    return WindowData(
        windows=windows,
        states=states,
        nll=arrays.get("nll"),
        argmax=arrays.get("argmax"),
        min_position=config.min_position,
    )


def _peak_memory_bytes(devices: list[torch.device]) -> int | None:
    """Peak tensor memory summed over the model's GPUs; else the process's peak RSS."""
    gpus = [device for device in devices if device.type == "cuda"]
    if gpus:
        return sum(int(torch.cuda.max_memory_allocated(gpu)) for gpu in gpus)
    try:
        import resource

        # ru_maxrss is KiB on Linux: the process's high-water mark, CPU tensors included.
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    except ImportError:  # pragma: no cover - non-POSIX
        return None

"""run_analysis: one model, token windows and a config in; an AnalysisOutput out.

Stages: introspect → sample contexts → one capture pass (per-token stats, hidden states at the
N contexts) → lens (+ fidelity check) → surplus and spectral suites (engineer B's modules, when
present) → aggregates with bootstrap intervals → provenance.
"""

from __future__ import annotations

import importlib
import platform
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any

import numpy as np
import torch

from markovlens.analysis.architecture import introspect
from markovlens.analysis.capture import (
    CaptureOutput,
    build_sampled_contexts,
    capture_pass,
    sample_contexts,
)
from markovlens.analysis.entropy import summarize_entropy
from markovlens.analysis.exact import ExactReference, exact_comparison
from markovlens.analysis.lens import (
    LensFidelityError,
    check_fidelity,
    default_tolerance,
    lens_suite,
)
from markovlens.analysis.marginal import held_out_entropy
from markovlens.schema.config import AnalysisConfig, select_layers
from markovlens.schema.result import (
    AnalysisOutput,
    AnalysisResult,
    ContextsInfo,
    CorpusMeta,
    ModelMeta,
    Provenance,
)

ProgressFn = Callable[[float, str], None]

# Share of the progress bar per stage (the capture pass dominates on CPU).
_STAGES = {"capture": (0.0, 0.5), "lens": (0.5, 0.6), "surplus": (0.6, 0.8),
           "spectral": (0.8, 0.95), "aggregate": (0.95, 1.0)}  # fmt: skip


def _noop_progress(fraction: float, stage: str) -> None:
    return None


def _stage_progress(report: ProgressFn, stage: str) -> ProgressFn:
    lo, hi = _STAGES[stage]

    def inner(fraction: float, sub: str) -> None:
        label = sub if sub.startswith(stage) else f"{stage}: {sub}"
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
    report = progress or _noop_progress
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    # The analysis workspace lives on the first parameter's device; a model spread over
    # several GPUs (device_map) is recorded with all of them.
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    model_devices = sorted({p.device for p in model.parameters()}, key=str)
    for used in model_devices:
        if used.type == "cuda":
            torch.cuda.reset_peak_memory_stats(used)
    model.eval()
    report(0.0, "introspect")
    arch = introspect(model)
    vocab = int(arch.head.unembed.shape[0])
    _validate_windows(windows, vocab)
    windows = windows.long().cpu()
    n_windows, window_len = windows.shape
    layers = select_layers(config, arch.num_layers)
    plan = sample_contexts(
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
    notes: list[str] = [
        "Entropies and NLL in nats. Intervals: 95% bootstrap over windows.",
        "Lens, surplus and spectral suites use the N sampled contexts; per-token statistics "
        "use every token.",
        f"ECE over {config.ece_bins} equal-mass bins of top-1 confidence.",
    ]

    t0 = time.perf_counter()
    capture = capture_pass(
        model,
        windows,
        arch,
        layers,
        plan,
        batch_size=config.batch_size,
        fidelity_contexts=config.lens.fidelity_contexts,
        true_probs=reference.true_probs if reference is not None else None,
        progress=_stage_progress(report, "capture"),
        # The surplus probes read the last layer at every position of the windows.
        full_layers=(arch.num_layers,) if config.run_surplus else (),
    )
    seconds["capture"] = time.perf_counter() - t0
    notes.extend(corpus_meta.notes)
    notes.extend(capture.notes)
    arrays: dict[str, np.ndarray] = dict(capture.token_arrays)
    arrays["context_window"] = plan.window_index.numpy().astype(np.int32)
    arrays["context_position"] = plan.position.numpy().astype(np.int32)
    arrays["context_split"] = plan.split.numpy()
    arrays["token_ids"] = windows.numpy().astype(np.int32)  # the token view's text (decoded later)

    # Lens: fidelity first (a mis-wired head fails the job), then every captured layer.
    t0 = time.perf_counter()
    # H(Y): the model-free held-out marginal, fitted on probe-train windows (α on probe-val)
    # and evaluated on the test contexts, the same contexts the lens's CE^ℓ is averaged over.
    window_split = np.full(n_windows, -1, dtype=np.int8)
    window_split[plan.window_index.numpy()] = plan.split.numpy()
    test_contexts = (plan.split == 2).numpy()
    targets_all = windows[plan.window_index, plan.position + 1]
    h_y, _marginal = held_out_entropy(
        windows[:, 1:].numpy(), window_split, targets_all.numpy()[test_contexts], vocab
    )
    lens_head = arch.head.to(device, torch.float32)
    last = arch.num_layers
    n_fid = capture.fidelity_logits.shape[0]
    tolerance = config.lens.fidelity_tolerance or default_tolerance(dtype)
    # In reduced precision the check reruns the head in the model's own dtype (the hidden
    # states were captured losslessly from it), so bf16 rounding is not mistaken for miswiring;
    # the lens statistics themselves are computed in fp32.
    full_precision = dtype in (torch.float32, torch.float64)
    fid_head = lens_head if full_precision else arch.head.to(device, dtype)
    fidelity = check_fidelity(
        fid_head, capture.hidden[last][:n_fid], capture.fidelity_logits, tolerance
    )
    del fid_head
    if not fidelity.passed:
        raise LensFidelityError(
            f"lens fidelity check failed for {arch.family}: the lens at the last layer differs "
            f"from the model's logits by {fidelity.max_relative_error:.2e} (relative; tolerance "
            f"{tolerance:.0e}). The final norm or unembedding is wired wrong for this "
            f"architecture: {arch.describe()}"
        )
    lens = None
    if config.lens.enabled:
        lens, lens_arrays = lens_suite(
            capture.hidden,
            lens_head,
            targets_all,
            fidelity,
            h_y,
            test_mask=torch.from_numpy(test_contexts),
            chunk=config.lens.context_chunk,
            progress=_stage_progress(report, "lens"),
        )
        lens.architecture = arch.describe()
        arrays.update(lens_arrays)
    del lens_head
    seconds["lens"] = time.perf_counter() - t0

    contexts = build_sampled_contexts(windows, plan, capture, arch, config.seed)
    suites: dict[str, Any] = {}
    for name, module, function, enabled, sub_config in (
        ("surplus", "surplus", "surplus_suite", config.run_surplus, config.surplus),
        ("spectral", "spectral", "spectral_suite", config.run_spectral, config.spectral),
    ):
        if not enabled:
            continue
        suite_fn = _optional_suite(module, function)
        if suite_fn is None:
            notes.append(f"{name} suite not available in this build")
            continue
        t0 = time.perf_counter()
        # One generator per suite, derived from the job seed: suites stay reproducible
        # independently of each other.
        rng = np.random.default_rng([config.seed, len(suites) + 1])
        # run_analysis is no_grad for the forward passes; probes and Jacobians need autograd.
        extra: dict[str, Any] = {}
        if name == "surplus":
            if reference is not None and reference.ideal_surplus:
                extra["ideal_surplus"] = dict(reference.ideal_surplus)
            extra["windows"] = _window_data(windows, capture, arrays, arch.num_layers, config)
            suite_fn = _optional_suite(module, "surplus_analysis") or suite_fn
        with torch.enable_grad():
            suites[name] = suite_fn(
                contexts, sub_config, rng, _stage_progress(report, name), **extra
            )
        if name == "surplus" and hasattr(suites[name], "arrays"):
            arrays.update(suites[name].arrays)  # per-context gains, aligned with the contexts
            suites[name] = suites[name].suite
        extra.clear()  # drop the per-position states as soon as the suite is done
        seconds[name] = time.perf_counter() - t0

    t0 = time.perf_counter()
    report(_STAGES["aggregate"][0], "aggregate")
    rng = np.random.default_rng(config.seed)
    entropy_suite = summarize_entropy(
        arrays["nll"],
        arrays["entropy"],
        arrays["gini"],
        arrays["top1_hit"],
        arrays["top1_conf"],
        config.bootstrap_samples,
        rng,
        ece_bins=config.ece_bins,
        reliability_bins=config.reliability_bins,
        unigram_entropy=h_y,
    )
    exact = None
    if reference is not None:
        exact = exact_comparison(reference, arrays, config.bootstrap_samples, rng)
    seconds["aggregate"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - started

    split_names = ("train", "val", "test")
    contexts_info = ContextsInfo(
        num_contexts=plan.num_contexts,
        layers=layers,
        min_position=config.min_position,
        horizon=plan.horizon,
        split_counts={n: int((plan.split == i).sum()) for i, n in enumerate(split_names)},
        split_windows={
            n: len(set(plan.window_index[plan.split == i].tolist()))
            for i, n in enumerate(split_names)
        },
    )
    provenance = Provenance(
        model=model_meta,
        corpus=corpus_meta,
        config=config,
        seed=config.seed,
        versions=library_versions(),
        device="+".join(str(used) for used in model_devices),
        dtype=str(dtype).removeprefix("torch."),
        stage_seconds=seconds,
        peak_memory_bytes=_peak_memory_bytes(model_devices),
        notes=[*notes, f"capture batch size {capture.batch_size} windows"],
    )
    result = AnalysisResult(
        provenance=provenance,
        entropy=entropy_suite,
        contexts=contexts_info,
        lens=lens,
        surplus=suites.get("surplus"),
        spectral=suites.get("spectral"),
        exact=exact,
    )
    report(1.0, "done")
    return AnalysisOutput(result=result, arrays=arrays)


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

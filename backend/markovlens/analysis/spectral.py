"""Spectral suite: kernels, eigenspectra, alignment, Fisher metric, ranks.

Definitions: docs/methods.md#spectral.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch

from markovlens.analysis.alignment import (
    CenteredEigen,
    alignment,
    anisotropy,
    centered_eigen,
    jackknife_lifts,
    kernel_spectrum,
    spectrum_stats,
)
from markovlens.analysis.contexts import SampledContexts
from markovlens.analysis.fisher import FisherResult, dirichlet_energy, mean_fisher
from markovlens.analysis.kernels import (
    Kernel,
    data_side_kernels,
    model_side_kernels,
    model_side_stats,
    prototypes,
)
from markovlens.analysis.linalg import (
    CovarianceEigh,
    cca_correlations,
    cca_inv_sqrt,
    covariance_eigh,
    r2_score,
    ridge_cca,
    ridge_fit,
    ridge_path,
    single_thread,
    torch_generator,
    whitened_basis,
)
from markovlens.analysis.probes import resolve_device
from markovlens.analysis.splits import context_splits
from markovlens.schema.common import Interval
from markovlens.schema.config import TRAIN_FRACTION, VAL_FRACTION
from markovlens.schema.spectral import (
    Alignment,
    DirichletEnergy,
    FisherSpectrum,
    HeldOut,
    RepresentationSpectrum,
    SpectralConfig,
    SpectralSuite,
    Spectrum,
)

ProgressFn = Callable[[float, str], None]
RIDGE_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def round_sig(x: float, digits: int = 5) -> float:
    """Round to ``digits`` significant digits (compact JSON); nan/inf pass through."""
    if not math.isfinite(x) or x == 0:
        return float(x)
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))


def _rounded(values: object) -> list[float]:
    return [round_sig(float(v)) for v in np.asarray(values, dtype=np.float64).ravel()]


def spectral_suite(
    contexts: SampledContexts,
    config: SpectralConfig,
    rng: np.random.Generator,
    progress: ProgressFn,
) -> SpectralSuite:
    """Every §3 number on the sampled contexts. ``progress(fraction, stage)`` is called often."""
    # Small problems (synthetic vocabularies) are dominated by thread hand-off: one thread.
    small = contexts.head.unembed.numel() < 2**20 and contexts.num_contexts <= 1024
    with single_thread() if small else nullcontext():
        return _spectral_suite(contexts, config, rng, progress)


@dataclass
class _SpectralRun:
    """The suite in progress: its inputs, and what each step leaves for the later ones.

    Only contexts with a next token count (``valid``); ``hidden`` and ``window_index`` are
    restricted to them. Fields without a default are set by the step that produces them.
    """

    contexts: SampledContexts
    config: SpectralConfig
    rng: np.random.Generator
    progress: ProgressFn
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    gen: torch.Generator = field(init=False)
    valid: torch.Tensor = field(init=False)  # [N] bool
    next_tokens: torch.Tensor = field(init=False)  # [n]
    hidden: dict[int, torch.Tensor] = field(init=False)  # layer -> [n, d]
    window_index: torch.Tensor = field(init=False)  # [n]
    layers: list[int] = field(init=False)
    protos: torch.Tensor = field(init=False)  # [V, d] token prototypes
    kernels: list[Kernel] = field(init=False)
    spectra: list[Spectrum] = field(init=False)
    eigens: dict[tuple[str, str], CenteredEigen] = field(init=False)
    alignment: list[Alignment] = field(init=False)
    heldout: list[HeldOut] = field(init=False)
    representation: list[RepresentationSpectrum] = field(init=False)
    fisher: FisherResult = field(init=False)
    fisher_contexts: int = field(init=False)
    dirichlet: list[DirichletEnergy] = field(init=False)

    def __post_init__(self) -> None:
        self.gen = torch_generator(self.rng)
        contexts, config = self.contexts, self.config
        self.valid = contexts.future_tokens[:, 0] >= 0
        self.next_tokens = contexts.future_tokens[self.valid, 0]
        self.hidden = {layer: h[self.valid] for layer, h in contexts.hidden.items()}
        self.window_index = contexts.window_index[self.valid]
        hidden = self.hidden
        self.layers = (
            sorted(hidden) if config.layers is None else [x for x in config.layers if x in hidden]
        )

    @property
    def n(self) -> int:
        """Contexts with a next token."""
        return int(self.next_tokens.shape[0])

    @property
    def last(self) -> int:
        return max(self.hidden)

    @property
    def d(self) -> int:
        return int(self.hidden[self.last].shape[1])


def _spectral_suite(
    contexts: SampledContexts,
    config: SpectralConfig,
    rng: np.random.Generator,
    progress: ProgressFn,
) -> SpectralSuite:
    run = _SpectralRun(contexts, config, rng, progress)
    _saturation_note(run)
    for name, step in _STEPS:
        clock = time.perf_counter()
        step(run)
        run.timings[name] = time.perf_counter() - clock
    progress(1.0, "spectral: done")
    return _suite(run)


def _saturation_note(run: _SpectralRun) -> None:
    n, d = run.n, run.d
    if n < 4 * d:
        # The whitened basis spans d of N dimensions: as d/N → 1 it spans nearly everything,
        # so A and A_rand both → 1 and the lift → 1 whatever the model learned.
        run.notes.append(
            f"N = {n} < 4·d = {4 * d}: the whitened alignment is near saturation "
            f"(d/N = {d / n:.2f}); A, A_rand and the lift are all biased toward 1. "
            f"Raise n_contexts to at least {4 * d} to compare lifts."
        )


def _kernels(run: _SpectralRun) -> None:
    """The data-side kernels from the next tokens, the model-side ones from p_i = head(h^L)."""
    config, contexts = run.config, run.contexts
    run.progress(0.0, "spectral: kernels")
    run.protos = prototypes(contexts.head.unembed)
    data = data_side_kernels(run.next_tokens, run.protos)
    run.kernels = [data[name] for name in config.data_kernels]
    if config.model_kernels:
        device = resolve_device(config.device)
        last_hidden = run.hidden[run.last]
        grams = any(name != "proto" for name in config.model_kernels)
        stats = model_side_stats(
            contexts.head, last_hidden, run.protos, config.vocab_chunk, device, grams=grams
        )
        model = model_side_kernels(stats, config.beta)
        run.kernels += [model[name] for name in config.model_kernels]
        run.notes.append(
            "Model-side kernels are built from the model's own p_i = head(h^L): near the head "
            "they are partly tautological (A → 1 even untrained). The headline is the "
            "data-side K_lin (same next token): model-free, so it compares across models on "
            "the same contexts; data-side K_proto uses this model's own prototypes."
        )


def _eigenspectra(run: _SpectralRun) -> None:
    """Each kernel's top eigenvalues and its centred eigenvectors (for the capture curves)."""
    config, n = run.config, run.n
    run.progress(0.15, "spectral: eigenspectra")
    top_c = min(n, max(run.d, config.capture_top))
    run.spectra, run.eigens = [], {}
    for i, kernel in enumerate(run.kernels):
        evals = kernel_spectrum(kernel, config.rank, run.gen)
        run.spectra.append(
            Spectrum(
                kernel=kernel.name,  # type: ignore[arg-type]
                side=kernel.side,  # type: ignore[arg-type]
                eigenvalues=_rounded(evals.numpy()),
                trace=round_sig(kernel.trace() / n),
            )
        )
        eig = centered_eigen(
            kernel, top_c, run.gen, None, config.eig_iterations, vectors=config.capture_top
        )
        run.eigens[(kernel.name, kernel.side)] = eig
        if eig.vector_error > 1e-3:
            run.notes.append(
                f"Capture curve of {kernel.side}-side {kernel.name}: its eigenvectors are "
                f"approximate (Ritz values within {eig.vector_error:.1e}·λ₁ of the exact "
                "eigenvalues); A and the eigenvalues are exact."
            )
        run.progress(0.15 + 0.25 * (i + 1) / len(run.kernels), "spectral: eigenspectra")


def _alignment(run: _SpectralRun) -> None:
    """Per layer: alignment with every kernel, held-out ridge / CCA, representation spectrum."""
    config = run.config
    # The capture's split (AnalysisConfig's); the fractions only serve contexts without one.
    splits = {
        name: mask[run.valid]
        for name, mask in context_splits(
            run.contexts, TRAIN_FRACTION, VAL_FRACTION, run.rng
        ).items()
    }
    target = run.protos[run.next_tokens].to(torch.float64)
    trva = splits["train"] | splits["val"]
    y_white = cca_inv_sqrt(target[trva], config.cca_ridge)  # shared by every layer's CCA
    run.alignment, run.heldout, run.representation = [], [], []
    for li, layer in enumerate(run.layers):
        h = run.hidden[layer]
        cov_eig = covariance_eigh(h)
        run.alignment += _alignment_rows(run, layer, h, cov_eig)
        run.heldout.append(_heldout(layer, h, target, splits, config, y_white))
        run.representation.append(_representation(layer, h, cov_eig, config.rank))
        run.progress(0.4 + 0.35 * (li + 1) / len(run.layers), "spectral: alignment")


def _alignment_rows(
    run: _SpectralRun, layer: int, h: torch.Tensor, cov_eig: CovarianceEigh
) -> list[Alignment]:
    """A, A_rand, lift (with a jackknife interval for data-side kernels) and the capture curve
    of layer ``layer`` against every kernel."""
    config = run.config
    q = whitened_basis(h, config.ridge_eps, cov_eig)
    intervals = _lift_intervals(h, cov_eig, run.kernels, run.window_index, config.ridge_eps)
    rows = []
    for kernel in run.kernels:
        vals = alignment(q, run.eigens[(kernel.name, kernel.side)], config.capture_top)
        rows.append(
            Alignment(
                layer=layer,
                kernel=kernel.name,  # type: ignore[arg-type]
                side=kernel.side,  # type: ignore[arg-type]
                d_eff=vals.d_eff,
                alignment=round_sig(vals.alignment),
                alignment_random=round_sig(vals.alignment_random),
                lift=round_sig(vals.alignment / vals.alignment_random)
                if vals.alignment_random > 0
                else float("nan"),
                lift_interval=intervals.get(kernel.name) if kernel.side == "data" else None,
                capture=_rounded(vals.capture),
            )
        )
    return rows


def _representation(
    layer: int, h: torch.Tensor, cov_eig: CovarianceEigh, rank: int
) -> RepresentationSpectrum:
    """The covariance spectrum of the layer's states: effective rank, power law, anisotropy."""
    st = spectrum_stats(cov_eig[0].flip(0).clamp_min(0.0).numpy())
    return RepresentationSpectrum(
        layer=layer,
        eigenvalues=_rounded(st.eigenvalues[:rank]),
        effective_rank=round_sig(st.effective_rank),
        participation_ratio=round_sig(st.participation_ratio),
        alpha=None if st.alpha is None else round_sig(st.alpha),
        anisotropy=round_sig(anisotropy(h)),
    )


def _fisher(run: _SpectralRun) -> None:
    """The pullback Fisher metric of the head at the last layer, on a subsample of contexts."""
    config = run.config
    run.progress(0.75, "spectral: fisher")
    run.fisher_contexts = m = min(config.fisher_contexts, run.n)
    pick = torch.from_numpy(np.sort(run.rng.choice(run.n, size=m, replace=False)))
    run.fisher = mean_fisher(
        run.contexts.head, run.hidden[run.last][pick], config.fisher_top_tokens, config.vocab_chunk
    )


def _dirichlet(run: _SpectralRun) -> None:
    """Dirichlet energies of the top Fisher directions against random directions, per layer."""
    config = run.config
    directions = run.fisher.eigenvectors[:, : config.dirichlet_directions]
    rand = torch.randn(run.d, config.dirichlet_random, generator=run.gen, dtype=torch.float64)
    rand = rand / rand.norm(dim=0, keepdim=True)
    run.dirichlet = []
    # A Dirichlet energy is a smoothness measure only on a similarity graph (K_ij ≥ 0): the
    # prototype kernels hold signed cosines, so they are left out.
    graph_kernels = [kern for kern in run.kernels if kern.name != "proto"]
    for layer in run.layers:
        h64 = run.hidden[layer].to(torch.float64)
        phi_f, phi_r = h64 @ directions, h64 @ rand
        for kernel in graph_kernels:
            e_f = dirichlet_energy(kernel, phi_f)
            e_r = dirichlet_energy(kernel, phi_r)
            run.dirichlet.append(
                DirichletEnergy(
                    layer=layer,
                    directions_layer=run.last,
                    kernel=kernel.name,  # type: ignore[arg-type]
                    side=kernel.side,  # type: ignore[arg-type]
                    fisher=_rounded(e_f.numpy()),
                    random_mean=round_sig(float(e_r.mean())),
                    random_std=round_sig(float(e_r.std())) if e_r.numel() > 1 else 0.0,
                )
            )


# The steps in order; each one's seconds go to the suite's stage_seconds under its name.
_STEPS: tuple[tuple[str, Callable[[_SpectralRun], None]], ...] = (
    ("kernels", _kernels),
    ("eigen", _eigenspectra),
    ("alignment", _alignment),
    ("fisher", _fisher),
    ("dirichlet", _dirichlet),
)


def _suite(run: _SpectralRun) -> SpectralSuite:
    """The result section, with the notes on the Fisher and Dirichlet estimates."""
    config, fisher, last = run.config, run.fisher, run.last
    notes = [
        *run.notes,
        f"Fisher metric over {run.fisher_contexts} contexts, top {config.fisher_top_tokens} "
        f"tokens each (mean retained mass {fisher.retained_mass:.4f}; centred at the full mean, "
        "so a Loewner lower bound).",
        f"Dirichlet energies use the Fisher directions of the head at layer {last} for every "
        "layer: below it they are layer-L directions read in that layer's coordinates.",
    ]
    return SpectralSuite(
        num_contexts=run.n,
        layers=run.layers,
        spectra=run.spectra,
        alignment=run.alignment,
        heldout=run.heldout,
        representation=run.representation,
        fisher=FisherSpectrum(
            layer=last,
            num_contexts=run.fisher_contexts,
            eigenvalues=_rounded(fisher.eigenvalues[: config.rank].numpy()),
            retained_mass=round_sig(fisher.retained_mass),
        ),
        dirichlet=run.dirichlet,
        model_side_retained_mass=1.0,
        stage_seconds={k: round_sig(v, 4) for k, v in run.timings.items()},
        notes=notes,
    )


def _lift_intervals(
    h: torch.Tensor,
    cov_eig: CovarianceEigh,
    kernels: list[Kernel],
    window_index: torch.Tensor,
    ridge_eps: float,
) -> dict[str, Interval]:
    """Lift ± 1.96 jackknife SE of each data-side factor kernel, by kernel name. Model-side
    kernels get none: they are partly tautological near the head, and mostly dense."""
    data = [k for k in kernels if k.side == "data" and k.factor is not None]
    factors = [k.factor for k in data if k.factor is not None]
    lifts = jackknife_lifts(h, factors, window_index, ridge_eps, cov_eig)
    intervals = {}
    for kernel, (lift, se) in zip(data, lifts, strict=True):
        if math.isfinite(lift) and math.isfinite(se):
            intervals[kernel.name] = Interval(
                estimate=round_sig(lift),
                low=round_sig(max(0.0, lift - 1.96 * se)),
                high=round_sig(lift + 1.96 * se),
            )
    return intervals


def _heldout(
    layer: int,
    h: torch.Tensor,
    target: torch.Tensor,
    splits: dict[str, torch.Tensor],
    config: SpectralConfig,
    y_white: torch.Tensor,
) -> HeldOut:
    """Ridge H^ℓ → Ḡ^data (penalty picked on val) with R² on test; ridge CCA on train+val."""
    tr, va, te = splits["train"], splits["val"], splits["test"]
    lam = 1e-2
    if int(va.sum()) > 1:
        fits = ridge_path(h[tr], target[tr], RIDGE_GRID)
        scores = [r2_score(target[va], fit.predict(h[va])) for fit in fits]
        finite = [
            (sc, fit.ridge) for sc, fit in zip(scores, fits, strict=True) if math.isfinite(sc)
        ]
        if finite:
            lam = max(finite)[1]
    # Refit on train + val with the chosen penalty; test is touched once.
    trva = tr | va
    fit = ridge_fit(h[trva], target[trva], lam)
    r2 = r2_score(target[te], fit.predict(h[te])) if int(te.sum()) > 1 else float("nan")
    cca = ridge_cca(h[trva], target[trva], config.cca_top, config.cca_ridge, y_white)
    test_corr = cca_correlations(cca, h[te], target[te]).tolist() if int(te.sum()) > 2 else []
    return HeldOut(
        layer=layer,
        r2=round_sig(r2),
        ridge=lam,
        canonical_correlations=_rounded(cca.correlations.numpy()),
        canonical_correlations_test=_rounded(test_corr),
    )

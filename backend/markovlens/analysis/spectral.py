"""Spectral suite: kernels, eigenspectra, alignment, Fisher metric, ranks.

Definitions: docs/methods.md#spectral.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext

import numpy as np
import torch

from markovlens.analysis.alignment import (
    alignment,
    anisotropy,
    centered_eigen,
    jackknife_lifts,
    kernel_spectrum,
    spectrum_stats,
)
from markovlens.analysis.contexts import SampledContexts
from markovlens.analysis.fisher import dirichlet_energy, mean_fisher
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


def _spectral_suite(
    contexts: SampledContexts,
    config: SpectralConfig,
    rng: np.random.Generator,
    progress: ProgressFn,
) -> SpectralSuite:
    timings: dict[str, float] = {}
    notes: list[str] = []
    clock = time.perf_counter()
    gen = torch_generator(rng)

    valid = contexts.future_tokens[:, 0] >= 0
    next_tokens = contexts.future_tokens[valid, 0]
    hidden = {layer: h[valid] for layer, h in contexts.hidden.items()}
    window_index = contexts.window_index[valid]
    n = int(next_tokens.shape[0])
    last = max(hidden)
    layers = sorted(hidden) if config.layers is None else [x for x in config.layers if x in hidden]
    d = int(hidden[last].shape[1])
    if n < 4 * d:
        # The whitened basis spans d of N dimensions: as d/N → 1 it spans nearly everything,
        # so A and A_rand both → 1 and the lift → 1 whatever the model learned.
        notes.append(
            f"N = {n} < 4·d = {4 * d}: the whitened alignment is near saturation "
            f"(d/N = {d / n:.2f}); A, A_rand and the lift are all biased toward 1. "
            f"Raise n_contexts to at least {4 * d} to compare lifts."
        )

    progress(0.0, "spectral: kernels")
    protos = prototypes(contexts.head.unembed)
    kernels: list[Kernel] = []
    data = data_side_kernels(next_tokens, protos)
    kernels += [data[name] for name in config.data_kernels]
    if config.model_kernels:
        stats = model_side_stats(
            contexts.head, hidden[last], protos, config.vocab_chunk, resolve_device(config.device)
        )
        model = model_side_kernels(stats, config.beta)
        kernels += [model[name] for name in config.model_kernels]
        notes.append(
            "Model-side kernels are built from the model's own p_i = head(h^L): near the head "
            "they are partly tautological (A → 1 even untrained). The headline is the "
            "data-side K_lin (same next token): model-free, so it compares across models on "
            "the same contexts; data-side K_proto uses this model's own prototypes."
        )
    timings["kernels"] = time.perf_counter() - clock

    progress(0.15, "spectral: eigenspectra")
    clock = time.perf_counter()
    top_c = min(n, max(d, config.capture_top))
    spectra: list[Spectrum] = []
    eigens = {}
    for i, kernel in enumerate(kernels):
        evals = kernel_spectrum(kernel, config.rank, gen)
        spectra.append(
            Spectrum(
                kernel=kernel.name,  # type: ignore[arg-type]
                side=kernel.side,  # type: ignore[arg-type]
                eigenvalues=_rounded(evals.numpy()),
                trace=round_sig(kernel.trace() / n),
            )
        )
        eig = centered_eigen(
            kernel, top_c, gen, None, config.eig_iterations, vectors=config.capture_top
        )
        eigens[(kernel.name, kernel.side)] = eig
        if eig.vector_error > 1e-3:
            notes.append(
                f"Capture curve of {kernel.side}-side {kernel.name}: its eigenvectors are "
                f"approximate (Ritz values within {eig.vector_error:.1e}·λ₁ of the exact "
                "eigenvalues); A and the eigenvalues are exact."
            )
        progress(0.15 + 0.25 * (i + 1) / len(kernels), "spectral: eigenspectra")
    timings["eigen"] = time.perf_counter() - clock

    clock = time.perf_counter()
    # The capture's split (AnalysisConfig's); the fractions only serve contexts without one.
    splits = {
        name: mask[valid]
        for name, mask in context_splits(contexts, TRAIN_FRACTION, VAL_FRACTION, rng).items()
    }
    target = protos[next_tokens].to(torch.float64)
    trva = splits["train"] | splits["val"]
    y_white = cca_inv_sqrt(target[trva], config.cca_ridge)  # shared by every layer's CCA
    align_rows: list[Alignment] = []
    heldout: list[HeldOut] = []
    representation: list[RepresentationSpectrum] = []
    for li, layer in enumerate(layers):
        h = hidden[layer]
        cov_eig = covariance_eigh(h)
        q = whitened_basis(h, config.ridge_eps, cov_eig)
        intervals = _lift_intervals(h, cov_eig, kernels, window_index, config.ridge_eps)
        for kernel in kernels:
            vals = alignment(q, eigens[(kernel.name, kernel.side)], config.capture_top)
            align_rows.append(
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
        heldout.append(_heldout(layer, h, target, splits, config, y_white))
        st = spectrum_stats(cov_eig[0].flip(0).clamp_min(0.0).numpy())
        representation.append(
            RepresentationSpectrum(
                layer=layer,
                eigenvalues=_rounded(st.eigenvalues[: config.rank]),
                effective_rank=round_sig(st.effective_rank),
                participation_ratio=round_sig(st.participation_ratio),
                alpha=None if st.alpha is None else round_sig(st.alpha),
                anisotropy=round_sig(anisotropy(h)),
            )
        )
        progress(0.4 + 0.35 * (li + 1) / len(layers), "spectral: alignment")
    timings["alignment"] = time.perf_counter() - clock

    clock = time.perf_counter()
    progress(0.75, "spectral: fisher")
    m = min(config.fisher_contexts, n)
    pick = torch.from_numpy(np.sort(rng.choice(n, size=m, replace=False)))
    fisher = mean_fisher(
        contexts.head, hidden[last][pick], config.fisher_top_tokens, config.vocab_chunk
    )
    fisher_out = FisherSpectrum(
        layer=last,
        num_contexts=m,
        eigenvalues=_rounded(fisher.eigenvalues[: config.rank].numpy()),
        retained_mass=round_sig(fisher.retained_mass),
    )
    timings["fisher"] = time.perf_counter() - clock

    clock = time.perf_counter()
    directions = fisher.eigenvectors[:, : config.dirichlet_directions]
    rand = torch.randn(d, config.dirichlet_random, generator=gen, dtype=torch.float64)
    rand = rand / rand.norm(dim=0, keepdim=True)
    dirichlet: list[DirichletEnergy] = []
    # A Dirichlet energy is a smoothness measure only on a similarity graph (K_ij ≥ 0): the
    # prototype kernels hold signed cosines, so they are left out.
    graph_kernels = [kern for kern in kernels if kern.name != "proto"]
    for layer in layers:
        h64 = hidden[layer].to(torch.float64)
        phi_f, phi_r = h64 @ directions, h64 @ rand
        for kernel in graph_kernels:
            e_f = dirichlet_energy(kernel, phi_f)
            e_r = dirichlet_energy(kernel, phi_r)
            dirichlet.append(
                DirichletEnergy(
                    layer=layer,
                    directions_layer=last,
                    kernel=kernel.name,  # type: ignore[arg-type]
                    side=kernel.side,  # type: ignore[arg-type]
                    fisher=_rounded(e_f.numpy()),
                    random_mean=round_sig(float(e_r.mean())),
                    random_std=round_sig(float(e_r.std())) if e_r.numel() > 1 else 0.0,
                )
            )
    timings["dirichlet"] = time.perf_counter() - clock
    notes.append(
        f"Fisher metric over {m} contexts, top {config.fisher_top_tokens} tokens each "
        f"(mean retained mass {fisher.retained_mass:.4f}; centred at the full mean, so a "
        "Loewner lower bound)."
    )
    notes.append(
        f"Dirichlet energies use the Fisher directions of the head at layer {last} for every "
        "layer: below it they are layer-L directions read in that layer's coordinates."
    )
    progress(1.0, "spectral: done")
    return SpectralSuite(
        num_contexts=n,
        layers=layers,
        spectra=spectra,
        alignment=align_rows,
        heldout=heldout,
        representation=representation,
        fisher=fisher_out,
        dirichlet=dirichlet,
        model_side_retained_mass=1.0,
        stage_seconds={k: round_sig(v, 4) for k, v in timings.items()},
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

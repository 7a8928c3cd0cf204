"""Spectral suite: kernels (chunked = dense), alignment known answers, spectra, end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from markovlens.analysis.alignment import (
    _lifts_from_moments,
    _Moments,
    _WindowDowndates,
    alignment,
    anisotropy,
    centered_eigen,
    jackknife_lifts,
    spectrum_stats,
)
from markovlens.analysis.contexts import SampledContexts
from markovlens.analysis.head import HeadSpec
from markovlens.analysis.kernels import (
    Kernel,
    data_side_kernels,
    model_side_kernels,
    model_side_stats,
    prototypes,
)
from markovlens.analysis.linalg import whitened_basis
from markovlens.analysis.spectral import spectral_suite
from markovlens.schema.spectral import SpectralConfig
from torch import nn


def small_head(d: int = 8, v: int = 50, *, softcap: float | None = 4.0) -> HeadSpec:
    gen = torch.Generator().manual_seed(0)
    unembed = torch.randn(v, d, generator=gen)
    unembed[3] = 0.0  # an untrained padding row: its prototype must stay zero
    return HeadSpec(
        norm=nn.LayerNorm(d),
        unembed=unembed,
        bias=0.3 * torch.randn(v, generator=gen),
        logit_scale=1.3,
        final_softcap=softcap,
    )


def test_prototypes_keep_zero_rows_zero() -> None:
    protos = prototypes(small_head().unembed)
    assert torch.all(protos[3] == 0)
    norms = protos.norm(dim=1)
    torch.testing.assert_close(norms[torch.arange(50) != 3], torch.ones(49))


@pytest.mark.parametrize("softcap", [None, 4.0])
def test_chunked_model_side_kernels_equal_dense(softcap: float | None) -> None:
    head = small_head(softcap=softcap)
    hidden = 3.0 * torch.randn(40, 8, generator=torch.Generator().manual_seed(1))
    protos = prototypes(head.unembed)
    stats = model_side_stats(head, hidden, protos, chunk=7)
    with torch.no_grad():
        p = torch.softmax(head.logits(hidden).double(), dim=1)
    torch.testing.assert_close(stats.g_bar, p @ protos.double(), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(stats.k_lin, p @ p.T, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(stats.k_bc, p.sqrt() @ p.sqrt().T, rtol=1e-5, atol=1e-7)
    kernels = model_side_kernels(stats, beta=0.5)
    hel = kernels["hel"].to_dense()
    torch.testing.assert_close(
        hel, torch.exp(-0.5 * 2 * (1 - p.sqrt() @ p.sqrt().T)), rtol=1e-5, atol=1e-7
    )
    torch.testing.assert_close(hel.diagonal(), torch.ones(40, dtype=torch.float64))
    assert float(torch.linalg.eigvalsh(hel).min()) > -1e-8


def test_model_side_stats_without_grams_give_the_same_prototype_mean_and_only_proto() -> None:
    head = small_head()
    hidden = 3.0 * torch.randn(40, 8, generator=torch.Generator().manual_seed(2))
    protos = prototypes(head.unembed)
    full = model_side_stats(head, hidden, protos, chunk=7)
    lean = model_side_stats(head, hidden, protos, chunk=7, grams=False)
    assert lean.k_lin is None and lean.k_bc is None
    torch.testing.assert_close(lean.g_bar, full.g_bar)
    torch.testing.assert_close(lean.log_normalizer, full.log_normalizer)
    assert set(model_side_kernels(lean, beta=0.5)) == {"proto"}


def test_data_side_kernels() -> None:
    y = torch.tensor([4, 1, 4, 7, 1, 1])
    protos = prototypes(small_head().unembed)
    kernels = data_side_kernels(y, protos)
    same = (y[:, None] == y[None, :]).double()
    torch.testing.assert_close(kernels["lin"].to_dense(), same)
    g = protos[y].double()
    torch.testing.assert_close(kernels["proto"].to_dense(), g @ g.T)


def kernel_with_known_eigenspace(n: int, evals: list[float], seed: int = 0):
    """K = Σ λ_i u_i u_iᵀ with u_i orthonormal and orthogonal to 1 (so K_c = K)."""
    gen = torch.Generator().manual_seed(seed)
    basis = torch.randn(n, len(evals), generator=gen, dtype=torch.float64)
    basis = basis - basis.mean(0)
    u, _ = torch.linalg.qr(basis)
    return u @ torch.diag(torch.tensor(evals, dtype=torch.float64)) @ u.T, u


def test_alignment_is_one_when_states_span_the_top_eigenspace() -> None:
    n, k = 120, 4
    kmat, u = kernel_with_known_eigenspace(n, [5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.2])
    gen = torch.Generator().manual_seed(1)
    h = (u[:, :k] @ torch.randn(k, k, generator=gen, dtype=torch.float64) + 3.0).float()
    q = whitened_basis(h, 1e-6)
    gen2 = torch.Generator().manual_seed(0)
    for kernel in (
        Kernel("k", "data", dense=kmat),
        Kernel(
            "k",
            "data",
            factor=u
            * torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.2], dtype=torch.float64).sqrt(),
        ),
    ):
        eig = centered_eigen(kernel, n, gen2, dense_max_n=1000, iterations=4)
        vals = alignment(q, eig, capture_top=7)
        assert vals.d_eff == k
        assert vals.alignment == pytest.approx(1.0, abs=1e-5)
        # Chance over the centred space (dimension n − 1; issue 11 changed N to N − 1).
        assert vals.alignment_random == pytest.approx((k / (n - 1)) * 15.7 / 14.0, rel=1e-5)
        # Capture: the top-k eigenvectors are inside span(Q), the rest outside.
        np.testing.assert_allclose(vals.capture, [1, 1, 1, 1, 0, 0, 0], atol=1e-5)
    # States spanning the bottom of the spectrum instead: A = (1 + 0.5 + 0.2 + 0)/(14).
    h_low = (u[:, 4:] @ torch.randn(3, 3, generator=gen, dtype=torch.float64)).float()
    h_low = torch.cat([h_low, torch.randn(n, 1, generator=gen) * 1e-9], dim=1)
    eig = centered_eigen(Kernel("k", "data", dense=kmat), n, gen2, 1000, 4)
    low = alignment(whitened_basis(h_low, 1e-6), eig, 7)
    assert low.d_eff == 3
    assert low.alignment == pytest.approx(1.7 / 12.0, abs=1e-5)


def test_alignment_of_random_states_is_near_chance() -> None:
    n, k = 400, 20
    kmat, _ = kernel_with_known_eigenspace(n, [1.0] * 100 + [0.3] * 100, seed=2)
    eig = centered_eigen(
        Kernel("k", "data", dense=kmat), k, torch.Generator().manual_seed(0), 1000, 4
    )
    lifts = []
    for seed in range(3):
        h = torch.randn(n, k, generator=torch.Generator().manual_seed(10 + seed))
        vals = alignment(whitened_basis(h, 1e-6), eig, 5)
        lifts.append(vals.alignment / vals.alignment_random)
    assert abs(float(np.mean(lifts)) - 1.0) < 0.1


def test_spectrum_stats_known_answers() -> None:
    iso = spectrum_stats(np.ones(64))
    assert iso.effective_rank == pytest.approx(64.0)
    assert iso.participation_ratio == pytest.approx(64.0)
    one = spectrum_stats(np.array([3.0, 0.0, 0.0]))
    assert one.effective_rank == pytest.approx(1.0) and one.participation_ratio == pytest.approx(
        1.0
    )
    power = spectrum_stats(np.arange(1, 1001, dtype=float) ** -1.3)
    assert power.alpha == pytest.approx(1.3, abs=1e-6)
    # A sample covariance of isotropic data: effective rank close to d.
    h = torch.randn(20_000, 16, generator=torch.Generator().manual_seed(0)).double()
    cov = torch.cov(h.T)
    assert spectrum_stats(torch.linalg.eigvalsh(cov).numpy()).effective_rank > 15.9


def test_anisotropy() -> None:
    same = torch.ones(10, 4) * torch.arange(1, 11)[:, None]
    assert anisotropy(same) == pytest.approx(1.0)
    pm = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    # Pairs: 2 opposite (−1 each, counted twice) and 8 orthogonal (0): mean = −4/12.
    assert anisotropy(pm) == pytest.approx(-1.0 / 3.0)


def synthetic_contexts(n: int = 600, d: int = 8, v: int = 40, windows: int = 30) -> SampledContexts:
    """Layer 1 carries g(y) (the data-side prototype) plus noise; layer 0 is pure noise."""
    gen = torch.Generator().manual_seed(0)
    head = small_head(d, v, softcap=None)
    future = torch.randint(0, v, (n, 3), generator=gen)
    future[:, 0] = torch.randint(0, 6, (n,), generator=gen)  # a few frequent next tokens
    protos = prototypes(head.unembed)
    informative = 5.0 * protos[future[:, 0]] + 0.3 * torch.randn(n, d, generator=gen)
    return SampledContexts(
        hidden={0: torch.randn(n, d, generator=gen), 1: informative},
        window_index=torch.arange(n) // (n // windows),
        position=torch.arange(n) % (n // windows),
        future_tokens=future,
        greedy_future=future.clone(),
        embed=head.unembed.clone(),
        head=head,
    )


def test_spectral_suite_end_to_end() -> None:
    ctx = synthetic_contexts()
    seen: list[float] = []
    config = SpectralConfig(rank=16, fisher_contexts=20, vocab_chunk=16)
    suite = spectral_suite(ctx, config, np.random.default_rng(0), lambda f, s: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    assert suite.num_contexts == 600 and suite.layers == [0, 1]
    assert {(s.kernel, s.side) for s in suite.spectra} == {
        ("proto", "data"),
        ("lin", "data"),
        ("proto", "model"),
        ("lin", "model"),
        ("bc", "model"),
        ("hel", "model"),
    }
    assert all(len(s.eigenvalues) <= 16 for s in suite.spectra)
    rows = {(a.layer, a.kernel, a.side): a for a in suite.alignment}
    assert all(0.0 <= a.alignment <= 1.0 for a in rows.values())
    # The informative layer aligns with the data-side kernels far above chance; noise does not.
    assert rows[(1, "proto", "data")].lift > 2.0 * rows[(0, "proto", "data")].lift
    # Noise: chance level (loose: with d = 8 and ~5 kernel directions the lift is noisy).
    assert 0.5 < rows[(0, "proto", "data")].lift < 2.0
    assert rows[(1, "proto", "data")].alignment > 0.9
    heldout = {h.layer: h for h in suite.heldout}
    assert heldout[1].r2 > 0.8 and heldout[0].r2 < 0.1
    assert heldout[1].canonical_correlations[0] > 0.95
    assert suite.fisher is not None and len(suite.fisher.eigenvalues) == 8
    assert suite.fisher.retained_mass == pytest.approx(1.0)
    # Dirichlet energy only on similarity graphs (K_ij ≥ 0): no prototype kernels.
    assert {(x.kernel, x.side) for x in suite.dirichlet} == {
        ("lin", "data"),
        ("lin", "model"),
        ("bc", "model"),
        ("hel", "model"),
    }
    assert all(v >= 0 for x in suite.dirichlet for v in x.fisher)
    # Every layer's energy uses the last layer's Fisher directions, and says so.
    assert {x.directions_layer for x in suite.dirichlet} == {1}
    assert any("layer-L directions" in note for note in suite.notes)
    payload = suite.model_dump_json()
    assert len(payload) < 60_000
    json.loads(payload)
    assert math.isfinite(suite.representation[1].effective_rank)


def test_few_contexts_per_dimension_saturate_the_lift_and_say_so() -> None:
    """Known answer: whitened H spans d of N dimensions, so as d/N → 1 the alignment of even
    a perfectly informative layer tends to chance (lift → 1); the suite must warn below 4·d."""
    config = SpectralConfig(rank=16, fisher_contexts=8, vocab_chunk=16)

    def informative_lift(n: int) -> tuple[float, list[str]]:
        suite = spectral_suite(
            synthetic_contexts(n=n, d=32, windows=8), config, np.random.default_rng(0),
            lambda f, s: None,
        )  # fmt: skip
        rows = {(a.layer, a.kernel, a.side): a for a in suite.alignment}
        return rows[(1, "proto", "data")].lift, suite.notes

    ample, ample_notes = informative_lift(400)
    saturated, saturated_notes = informative_lift(40)
    assert ample > 3.0 and not any("saturation" in note for note in ample_notes)
    assert saturated < 1.3 and saturated < ample / 2, (ample, saturated)
    warning = "N = 40 < 4·d = 128: the whitened alignment is near saturation"
    assert any(note.startswith(warning) for note in saturated_notes)


def _lift_dataset(seed: int, signal: float, n: int = 600, d: int = 8, windows: int = 30):  # type: ignore[no-untyped-def]
    """h = signal·g(y) + noise with y among 6 tokens: lift 1 in expectation at signal 0."""
    gen = torch.Generator().manual_seed(seed)
    protos = prototypes(small_head(d, 40, softcap=None).unembed)
    y = torch.randint(0, 6, (n,), generator=gen)
    h = signal * protos[y] + torch.randn(n, d, generator=gen)
    return h, protos[y].to(torch.float64), torch.arange(n) // (n // windows), y


def test_jackknife_lift_matches_the_point_estimate_and_a_naive_jackknife() -> None:
    h, _, window_index, y = _lift_dataset(0, signal=0.5)
    kernels = data_side_kernels(y, prototypes(small_head(8, 40, softcap=None).unembed))
    q = whitened_basis(h, 1e-6)
    for kernel in kernels.values():
        eig = centered_eigen(kernel, 32, torch.Generator().manual_seed(0), 3072, 6)
        vals = alignment(q, eig, 8)
        assert kernel.factor is not None
        ((lift, se),) = jackknife_lifts(h, [kernel.factor], window_index, 1e-6)
        assert lift == pytest.approx(vals.alignment / vals.alignment_random, rel=1e-9)
        # Downdated sums give the same leave-one-window-out lifts as recomputing from scratch.
        loo = np.array(
            [
                jackknife_lifts(h[window_index != w], [kernel.factor[window_index != w]],
                                window_index[window_index != w], 1e-6)[0][0]
                for w in range(30)
            ]
        )  # fmt: skip
        naive = math.sqrt(29 / 30 * ((loo - loo.mean()) ** 2).sum())
        assert se == pytest.approx(naive, rel=1e-6) and se > 0


def test_woodbury_window_downdates_equal_the_direct_formula_even_when_a_window_is_degenerate() -> (
    None
):
    """Known answer: the leave-one-window-out lift from the direct sums (its own Cholesky, a
    pseudo-inverse when singular). Direction 3 lives in window 0 only, so dropping window 0
    leaves a singular Gram: the Woodbury path must see that and fall back."""
    gen = torch.Generator().manual_seed(3)
    n, windows = 300, 10
    window_index = torch.arange(n) // (n // windows)
    h = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    h[window_index != 0, 3] = 0.0
    h = h - h.mean(0)
    factors = [torch.randn(n, 5, generator=gen, dtype=torch.float64)]
    factors = [f - f.mean(0) for f in factors]
    total = _Moments.of(h, factors)
    downdates = _WindowDowndates(total, h, factors)
    for w in range(windows):
        rows = window_index == w
        direct = _lifts_from_moments(total - _Moments.of(h[rows], [f[rows] for f in factors]))
        assert downdates.lifts_without(rows) == pytest.approx(direct, rel=1e-9)
    # The known answer can tell a wrong downdate apart: one that forgets the re-centring at
    # the remaining mean (the √n' row) computes these sums-at-zero lifts, which differ.
    wrong = _Moments.of(h[window_index != 1], [f[window_index != 1] for f in factors])
    wrong.sum_h, wrong.sum_f = torch.zeros(4, dtype=torch.float64), [torch.zeros(5)]
    assert _lifts_from_moments(wrong) != pytest.approx(downdates.lifts_without(window_index == 1))


@pytest.mark.parametrize("signal", [0.0, 0.3])
def test_lift_interval_covers_the_mean_lift(signal: float) -> None:
    """Known answer by simulation: over independent data sets, lift ± 1.96·SE covers the mean
    lift about 95% of the time (and at signal 0 the mean lift is chance, 1)."""
    runs = []
    for seed in range(120):
        h, factor, window_index, _ = _lift_dataset(seed, signal)
        runs += jackknife_lifts(h, [factor], window_index, 1e-6)
    lifts, ses = np.array([r[0] for r in runs]), np.array([r[1] for r in runs])
    if signal == 0.0:
        assert abs(lifts.mean() - 1.0) < 0.1
    else:
        assert lifts.mean() > 2.0
    coverage = np.mean(np.abs(lifts - lifts.mean()) <= 1.96 * ses)
    assert 0.88 <= coverage <= 1.0, coverage


def test_suite_reports_lift_intervals_on_the_data_side_only() -> None:
    config = SpectralConfig(rank=16, fisher_contexts=8, vocab_chunk=16)
    rng = np.random.default_rng(0)
    suite = spectral_suite(synthetic_contexts(), config, rng, lambda f, s: None)
    for row in suite.alignment:
        if row.side == "model":
            assert row.lift_interval is None
            continue
        assert row.lift_interval is not None
        iv = row.lift_interval
        assert iv.estimate == pytest.approx(row.lift, rel=1e-4)
        assert 0.0 <= iv.low < iv.estimate < iv.high
    # The informative layer's interval lies far above chance; the noise layer's reaches it.
    rows = {(a.layer, a.kernel, a.side): a for a in suite.alignment}
    assert rows[(1, "proto", "data")].lift_interval.low > 2.0  # type: ignore[union-attr]
    assert rows[(0, "proto", "data")].lift_interval.low < 1.0  # type: ignore[union-attr]


def test_chance_alignment_is_the_mean_over_random_centred_subspaces() -> None:
    """Closed form: a uniformly random d-dimensional subspace of the centred space (dimension
    N − 1) captures (d/(N−1))·tr(K_c) on average, so A_rand uses N − 1, not N. Checked two
    ways: exactly, when the states span the whole centred space (A = A_rand = 1, lift 1;
    with N the lift would be N/(N−1)); and by Monte Carlo over random states, where the
    mean lift is 1 (with N it would be N/(N−1) = 1.083 at N = 13)."""
    n = 13
    gen = torch.Generator().manual_seed(3)
    f = torch.randn(n, 5, generator=gen, dtype=torch.float64)
    eig = centered_eigen(Kernel("k", "data", factor=f), n, gen, 1000, 4)
    full = alignment(whitened_basis(torch.randn(n, n - 1, generator=gen), 1e-9), eig, 3)
    assert full.d_eff == n - 1
    assert full.alignment == pytest.approx(1.0, abs=1e-9)
    assert full.alignment_random == pytest.approx(1.0, abs=1e-9)
    d = 3
    lifts = []
    for _ in range(3000):
        vals = alignment(whitened_basis(torch.randn(n, d, generator=gen), 1e-9), eig, 1)
        lifts.append(vals.alignment / vals.alignment_random)
    mean, se = float(np.mean(lifts)), float(np.std(lifts) / np.sqrt(len(lifts)))
    assert abs(mean - 1.0) < 4 * se
    assert abs(mean - n / (n - 1)) > 4 * se  # the old N normalisation is rejected
    # The jackknife's moment formula uses the same N − 1.
    h = torch.randn(n, n - 1, generator=gen)
    [(lift, _)] = jackknife_lifts(h, [f], torch.arange(n) // 4, 1e-9)
    assert lift == pytest.approx(1.0, abs=1e-9)


def test_alignment_of_a_large_dense_kernel_matches_the_dense_computation() -> None:
    """Above ``dense_eigh_max_n`` the old randomized Ritz values under-estimated Σ_{i≤d} λ_i
    (a flat spectrum converges slowly), inflating A. A must match the exact fp64
    computation within 1e-5 relative whatever the threshold (the eigenvalues are exact)."""
    n, d = 500, 48
    gen = torch.Generator().manual_seed(7)
    spectrum = 1.0 / torch.arange(1, 201, dtype=torch.float64) ** 0.25
    kmat, _ = kernel_with_known_eigenspace(n, spectrum.tolist(), seed=8)
    kmat = kmat + 0.5  # an uncentred offset: centring must remove it
    q = whitened_basis(torch.randn(n, d, generator=gen), 1e-9)
    kc = kmat - kmat.mean(0) - kmat.mean(1, keepdim=True) + kmat.mean()
    exact_top = torch.linalg.eigvalsh(kc).flip(0)[:d].sum()
    want = float(((q.double().T @ kc @ q.double()).trace()) / exact_top)
    eig = centered_eigen(Kernel("k", "model", dense=kmat), d, gen, 64, 6, vectors=8)
    vals = alignment(q, eig, 8)
    assert vals.alignment == pytest.approx(want, rel=1e-5)
    assert vals.alignment_random == pytest.approx(
        (d / (n - 1)) * float(kc.trace()) / float(exact_top), rel=1e-5
    )


def test_the_headline_kernel_is_model_free(tiny_model_dirs: dict[str, object]) -> None:
    """Two different models on one corpus and seed: the data-side same-next-token kernel (the
    headline) is the same kernel — identical eigenvalues — while the own-prototype kernel is
    each model's own; the lifts differ because the representations do. Their headlines carry
    the same contexts_key (comparable) and lead with the ``lin`` lift."""
    from markovlens.analysis.pipeline import run_analysis
    from markovlens.schema.config import preset_config
    from markovlens.schema.headline import headline
    from markovlens.schema.result import CorpusMeta, ModelMeta
    from transformers import AutoModelForCausalLM

    windows = torch.randint(3, 384, (8, 48), generator=torch.Generator().manual_seed(0))
    meta = CorpusMeta(source="t", hash="abc", num_windows=8, window_len=48, num_tokens=384)
    cfg = preset_config(
        "quick", window_len=48, max_tokens=384, n_contexts=160, min_position=2,
        bootstrap_samples=100, run_surplus=False, max_layers=2,
        spectral={"rank": 16, "fisher_contexts": 4, "dirichlet_random": 2, "model_kernels": []},
    )  # fmt: skip
    results = {}
    for arch in ("llama", "gpt2"):
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dirs[arch], dtype=torch.float32)
        out = run_analysis(model.eval(), windows, cfg, ModelMeta(source=arch), meta)
        results[arch] = out.result
    spectra = {
        arch: {(s.kernel, s.side): s.eigenvalues for s in r.spectral.spectra}  # type: ignore[union-attr]
        for arch, r in results.items()
    }
    assert spectra["llama"][("lin", "data")] == spectra["gpt2"][("lin", "data")]
    assert spectra["llama"][("proto", "data")] != spectra["gpt2"][("proto", "data")]
    heads = {arch: headline(r.model_dump(mode="json")) for arch, r in results.items()}
    assert heads["llama"].contexts_key == heads["gpt2"].contexts_key is not None
    assert heads["llama"].alignment_kernel == "lin"
    last = {
        arch: next(
            a
            for a in r.spectral.alignment  # type: ignore[union-attr]
            if a.layer == max(r.spectral.layers) and (a.kernel, a.side) == ("lin", "data")  # type: ignore[union-attr]
        )
        for arch, r in results.items()
    }
    for arch in results:
        assert heads[arch].alignment_lift_last == last[arch].lift
        assert heads[arch].alignment_lift_proto_last is not None
    assert last["llama"].lift != last["gpt2"].lift

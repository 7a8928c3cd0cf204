"""run_analysis end to end on tiny models: sections, provenance, arrays, progress, exact values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from markovlens.analysis.exact import ExactReference
from markovlens.analysis.pipeline import run_analysis
from markovlens.schema.config import preset_config
from markovlens.schema.result import AnalysisResult, CorpusMeta, ModelMeta
from transformers import AutoModelForCausalLM

N_WIN, T = 8, 48


def _load(path: Path) -> torch.nn.Module:
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()


def _config(**overrides: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "window_len": T, "max_tokens": N_WIN * T, "n_contexts": 120, "min_position": 2,
        "bootstrap_samples": 100, "run_surplus": False, "run_spectral": False,
    }  # fmt: skip
    values.update(overrides)
    return preset_config("quick", **values)


def _meta(windows: torch.Tensor) -> CorpusMeta:
    n, t = windows.shape
    return CorpusMeta(source="test:random", hash="abc", num_windows=n, window_len=t,
                      num_tokens=n * t)  # fmt: skip


def _windows(seed: int = 0) -> torch.Tensor:
    return torch.randint(3, 384, (N_WIN, T), generator=torch.Generator().manual_seed(seed))


def test_result_sections_provenance_and_arrays(tiny_model_dirs: dict[str, Path]) -> None:
    model = _load(tiny_model_dirs["llama"])
    windows = _windows()
    events: list[tuple[float, str]] = []
    out = run_analysis(
        model, windows, _config(), ModelMeta(source="local:tiny-llama"), _meta(windows),
        progress=lambda f, s: events.append((f, s)),
    )  # fmt: skip
    r = out.result
    prov = r.provenance
    assert prov.model.source == "local:tiny-llama" and prov.corpus.hash == "abc"
    assert prov.seed == 0 and prov.config.n_contexts == 120
    assert {"torch", "transformers", "numpy", "python"} <= set(prov.versions)
    assert prov.device == "cpu" and prov.dtype == "float32"
    assert {"capture", "lens", "aggregate", "total"} <= set(prov.stage_seconds)
    assert prov.peak_memory_bytes and prov.peak_memory_bytes > 0
    assert any("bootstrap" in note for note in prov.notes)
    # Sections.
    assert r.contexts is not None and r.contexts.num_contexts == 120
    assert r.contexts.layers == [0, 1, 2] and r.contexts.horizon == 3
    assert sum(r.contexts.split_counts.values()) == 120
    assert r.lens is not None and r.lens.fidelity.passed
    assert [layer.layer for layer in r.lens.layers] == [0, 1, 2]
    assert r.lens.architecture["family"] == "decoder-only (model.layers)"
    assert r.entropy.summary.num_tokens == N_WIN * (T - 1)
    assert r.entropy.calibration is not None and len(r.entropy.calibration.bins) == 15
    assert r.exact is None and r.surplus is None and r.spectral is None
    # Lens at L agrees with the per-token statistics at the sampled contexts.
    w, t = out.arrays["context_window"], out.arrays["context_position"]
    np.testing.assert_allclose(out.arrays["lens_nll"][-1], out.arrays["nll"][w, t], atol=1e-4)
    assert out.arrays["nll"].shape == (N_WIN, T - 1) and out.arrays["argmax"].dtype == np.int32
    # Progress: monotone, ends at 1, labelled by stage.
    fractions = [f for f, _ in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {"capture", "lens", "aggregate", "done"} <= {s.split(":")[0] for _, s in events}
    # JSON round trip.
    again = AnalysisResult.model_validate_json(r.model_dump_json())
    assert again.lens == r.lens


def test_same_seed_same_numbers_other_seed_other_contexts(
    tiny_model_dirs: dict[str, Path],
) -> None:
    model = _load(tiny_model_dirs["gpt2"])
    windows = _windows()
    a = run_analysis(model, windows, _config(), ModelMeta(source="m"), _meta(windows))
    b = run_analysis(model, windows, _config(batch_size=3), ModelMeta(source="m"), _meta(windows))
    c = run_analysis(model, windows, _config(seed=1), ModelMeta(source="m"), _meta(windows))
    assert a.result.entropy.summary == b.result.entropy.summary
    assert a.result.lens is not None and b.result.lens is not None
    assert a.result.lens.layers == b.result.lens.layers
    assert not np.array_equal(a.arrays["context_position"], c.arrays["context_position"])


def test_token_ids_outside_the_vocabulary_are_rejected(tiny_model_dirs: dict[str, Path]) -> None:
    model = _load(tiny_model_dirs["gpt2"])
    windows = _windows()
    windows[0, 0] = 384
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        run_analysis(model, windows, _config(), ModelMeta(source="m"), _meta(windows))


def _sample_from(
    model: torch.nn.Module, n: int, t: int, seed: int
) -> tuple[torch.Tensor, np.ndarray]:
    """Windows drawn from the model itself and its exact predictive at every position."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 384, (n, 1), generator=gen)
    with torch.no_grad():
        for _ in range(t - 1):
            p_next = torch.softmax(model(input_ids=ids).logits[:, -1], -1)
            ids = torch.cat([ids, torch.multinomial(p_next, 1, generator=gen)], dim=1)
        probs = torch.softmax(model(input_ids=ids).logits[:, :-1].double(), -1)
    return ids, probs.numpy()


def test_exact_comparison_on_the_models_own_samples(tiny_model_dirs: dict[str, Path]) -> None:
    # Truth = the model: KL = 0, H(p) = H*, and observed NLL − CE has mean 0 (interval covers 0).
    model = _load(tiny_model_dirs["gpt_neox"])
    windows, probs = _sample_from(model, 16, 24, seed=0)
    ref = ExactReference(
        source="synthetic:self", description="the model itself", true_probs=probs,
        entropy_rate=float("nan"), ideal_surplus={2: 0.1},
    )  # fmt: skip
    cfg = _config(window_len=24, max_tokens=16 * 24, n_contexts=100, bootstrap_samples=400)
    r = run_analysis(model, windows, cfg, ModelMeta(source="m"), _meta(windows), reference=ref)
    exact = r.result.exact
    assert exact is not None
    assert abs(exact.mean_kl.estimate) < 1e-5
    assert abs(exact.model_entropy_minus_true) < 1e-4
    assert exact.identity_max_abs_error < 1e-4
    assert exact.nll_minus_cross_entropy.low < 0 < exact.nll_minus_cross_entropy.high
    assert exact.ideal_surplus == {2: 0.1}
    assert r.arrays["exact_kl"].shape == (16, 23)


def test_exact_comparison_against_a_uniform_truth(tiny_model_dirs: dict[str, Path]) -> None:
    model = _load(tiny_model_dirs["llama"])
    windows = _windows()
    uniform = np.full((N_WIN, T - 1, 384), 1 / 384)
    ref = ExactReference(source="synthetic:uniform", description="iid uniform",
                         true_probs=uniform, entropy_rate=math.log(384))  # fmt: skip
    r = run_analysis(model, windows, _config(), ModelMeta(source="m"), _meta(windows),
                     reference=ref)  # fmt: skip
    exact = r.result.exact
    assert exact is not None
    assert exact.mean_true_entropy.estimate == pytest.approx(math.log(384), abs=1e-5)
    # KL(u ‖ p) = CE − log V > 0 for any non-uniform p.
    assert exact.mean_kl.estimate == pytest.approx(exact.mean_cross_entropy - math.log(384),
                                                   abs=1e-4)  # fmt: skip
    assert exact.mean_kl.estimate > 0


def test_with_the_surplus_and_spectral_suites_when_present(
    tiny_model_dirs: dict[str, Path],
) -> None:
    from markovlens.analysis.pipeline import _optional_suite

    have = {
        "surplus": _optional_suite("surplus", "surplus_suite") is not None,
        "spectral": _optional_suite("spectral", "spectral_suite") is not None,
    }
    if not any(have.values()):
        pytest.skip("neither suite is in this build yet")
    model = _load(tiny_model_dirs["llama"])
    windows = _windows()
    cfg = _config(run_surplus=True, run_spectral=True, n_contexts=160,
                  surplus={"max_steps": 20, "max_epochs": 2, "max_layers": 2},
                  spectral={"rank": 16, "fisher_contexts": 8, "dirichlet_random": 4})  # fmt: skip
    r = run_analysis(model, windows, cfg, ModelMeta(source="m"), _meta(windows)).result
    assert (r.surplus is not None) == have["surplus"]
    assert (r.spectral is not None) == have["spectral"]
    AnalysisResult.model_validate_json(r.model_dump_json())

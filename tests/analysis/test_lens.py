"""Per-layer lens: fidelity at the last layer on every family, and the check catches miswiring."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from markovlens.analysis.architecture import introspect
from markovlens.analysis.capture import capture_pass, sample_contexts
from markovlens.analysis.head import HeadSpec
from markovlens.analysis.lens import LensFidelityError, check_fidelity, lens_suite
from markovlens.analysis.pipeline import run_analysis
from markovlens.schema.config import preset_config
from markovlens.schema.result import CorpusMeta, ModelMeta
from torch import nn
from transformers import AutoModelForCausalLM


def _sharpened(path: Path, seed: int = 0) -> nn.Module:
    """A tiny model whose head matters: random norm weights/biases and large logits.

    Untrained norms are all-ones (or zeros, Gemma) and random logits are tiny, so a lens that
    skipped the norm's weight, its offset or the soft-cap would still pass; these would not.
    """
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name or "ln_" in name:
                param.copy_(0.5 + torch.rand(param.shape, generator=gen))
        out = model.get_output_embeddings()
        out.weight.mul_(40.0)  # logits of tens: tanh soft-capping at 30 is far from linear
    return model


def _windows(n: int = 6, t: int = 48) -> torch.Tensor:
    return torch.randint(3, 384, (n, t), generator=torch.Generator().manual_seed(4))


def _fidelity_inputs(model: nn.Module) -> tuple[HeadSpec, torch.Tensor, torch.Tensor]:
    found = introspect(model)
    plan = sample_contexts(6, 48, 40, min_position=1, horizon=2, seed=0)
    out = capture_pass(model, _windows(), found, [2], plan, batch_size=3, fidelity_contexts=40)
    return found.head, out.hidden[2], out.fidelity_logits


@pytest.mark.parametrize("arch", ["llama", "gpt2", "gpt_neox", "gemma2"])
def test_lens_reproduces_the_model_logits_at_the_last_layer(
    tiny_model_dirs: dict[str, Path], arch: str
) -> None:
    head, last, logits = _fidelity_inputs(_sharpened(tiny_model_dirs[arch]))
    assert logits.abs().max() > 20  # the regime where soft-capping and norm weights matter
    fidelity = check_fidelity(head, last, logits, tolerance=1e-4)
    assert fidelity.passed, fidelity
    assert fidelity.max_relative_error < 1e-5


def _rewired(head: HeadSpec, **changes: object) -> HeadSpec:
    wrong = copy.copy(head)
    for key, value in changes.items():
        setattr(wrong, key, value)
    return wrong


def test_fidelity_fails_without_gemma_softcap_or_norm_offset(
    tiny_model_dirs: dict[str, Path],
) -> None:
    head, last, logits = _fidelity_inputs(_sharpened(tiny_model_dirs["gemma2"]))
    assert not check_fidelity(_rewired(head, final_softcap=None), last, logits, 1e-4).passed
    # A plain RMSNorm with Gemma's weights (no 1 + w offset).
    plain = nn.RMSNorm(32, eps=1e-6)
    with torch.no_grad():
        plain.weight.copy_(head.norm.weight)
    assert not check_fidelity(_rewired(head, norm=plain), last, logits, 1e-4).passed


@pytest.mark.parametrize("arch", ["llama", "gpt2", "gpt_neox"])
def test_fidelity_fails_when_the_final_norm_is_skipped_or_its_eps_is_wrong(
    tiny_model_dirs: dict[str, Path], arch: str
) -> None:
    head, last, logits = _fidelity_inputs(_sharpened(tiny_model_dirs[arch]))
    assert not check_fidelity(_rewired(head, norm=nn.Identity()), last, logits, 1e-4).passed
    loose = copy.deepcopy(head.norm)
    for attr in ("eps", "variance_epsilon"):
        if hasattr(loose, attr):
            setattr(loose, attr, 10.0)
    assert not check_fidelity(_rewired(head, norm=loose), last, logits, 1e-4).passed


def test_a_miswired_head_fails_the_job(
    tiny_model_dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import markovlens.analysis.pipeline as pipeline

    model = _sharpened(tiny_model_dirs["gemma2"])
    real = pipeline.introspect

    def wrong(m: nn.Module):  # type: ignore[no-untyped-def]
        arch = real(m)
        arch.head = _rewired(arch.head, final_softcap=None)
        return arch

    monkeypatch.setattr(pipeline, "introspect", wrong)
    cfg = preset_config(
        "quick", window_len=48, max_tokens=48 * 6, n_contexts=60, min_position=1,
        run_surplus=False, run_spectral=False,
    )  # fmt: skip
    meta = CorpusMeta(source="t", hash="h", num_windows=6, window_len=48, num_tokens=288)
    with pytest.raises(LensFidelityError, match="fidelity check failed"):
        run_analysis(model, _windows(), cfg, ModelMeta(source="m"), meta)


def test_lens_statistics_on_a_constructed_head() -> None:
    # Identity norm, U = I (V = d = 4): logits are the hidden state itself.
    head = HeadSpec(norm=nn.Identity(), unembed=torch.eye(4))
    last = torch.tensor([[4.0, 0, 0, 0], [0, 4.0, 0, 0]])
    uniform = torch.zeros(2, 4)  # layer 0 predicts uniformly
    targets = torch.tensor([0, 2])
    fid = check_fidelity(head, last, last, 1e-4)
    suite, arrays = lens_suite({0: uniform, 3: last}, head, targets, fid, h_y=np.log(4))
    first, final = suite.layers
    assert first.mean_entropy == pytest.approx(np.log(4), abs=1e-6)
    assert first.mean_nll == pytest.approx(np.log(4), abs=1e-6)
    assert first.predictive_info == pytest.approx(0.0, abs=1e-6)
    p = torch.softmax(last[0], -1)
    kl = float((p * (p.log() - np.log(0.25))).sum())  # KL(p^L ‖ uniform)
    assert first.mean_kl_to_last == pytest.approx(kl, abs=1e-5)
    assert final.mean_kl_to_last == pytest.approx(0.0, abs=1e-7)
    assert final.top1_agreement == 1.0 and final.top1_accuracy == 0.5
    assert arrays["lens_nll"].shape == (2, 2)
    assert list(arrays["lens_layers"]) == [0, 3]


def test_reduced_precision_model_passes_with_the_dtype_tolerance(
    tiny_model_dirs: dict[str, Path],
) -> None:
    model = _sharpened(tiny_model_dirs["llama"]).to(torch.bfloat16)
    cfg = preset_config(
        "quick", window_len=48, max_tokens=48 * 6, n_contexts=60, min_position=1,
        run_surplus=False, run_spectral=False,
    )  # fmt: skip
    meta = CorpusMeta(source="t", hash="h", num_windows=6, window_len=48, num_tokens=288)
    out = run_analysis(model, _windows(), cfg, ModelMeta(source="m"), meta)
    lens = out.result.lens
    assert lens is not None and lens.fidelity.passed and lens.fidelity.tolerance == 3e-2
    assert out.result.provenance.dtype == "bfloat16"
    assert np.isfinite(out.arrays["lens_nll"]).all() and np.isfinite(out.arrays["nll"]).all()

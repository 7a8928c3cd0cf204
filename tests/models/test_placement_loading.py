"""Multi-GPU placement through the real loading and analysis code.

This machine has no GPU, so the device maps here put every module on the CPU; accelerate still
wraps each module's forward (``force_hooks``) the way it does across GPUs, which is what the
capture hooks must work through. Moving tensors between real devices is checked by
``benchmarks/gpu_check.sh`` on a GPU machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from accelerate import dispatch_model
from markovlens.analysis.pipeline import run_analysis
from markovlens.models import ModelLoadError, loading
from markovlens.models.checkpoint import resolve_checkpoint
from markovlens.models.model_source import parse_model_source
from markovlens.models.placement import GIB, WEIGHT_SHARE
from markovlens.schema.config import preset_config
from markovlens.schema.result import CorpusMeta, ModelMeta
from markovlens.settings import Settings
from transformers import AutoModelForCausalLM

CPU_ONLY = {"device_map": "auto", "max_memory": {"cpu": 64 * GIB}}


def _checkpoint_and_config(directory: Path, settings: Settings):  # type: ignore[no-untyped-def]
    checkpoint = resolve_checkpoint(parse_model_source(f"local:{directory}"), settings)
    return checkpoint, loading._load_config(checkpoint, "tiny")


def _gpus(monkeypatch: pytest.MonkeyPatch, *sizes: int) -> None:
    monkeypatch.setattr(loading, "gpu_memory_bytes", lambda: list(sizes))


def test_placement_spreads_only_what_one_gpu_cannot_hold(
    tiny_model_dirs: dict[str, Path], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _checkpoint, config = _checkpoint_and_config(tiny_model_dirs["llama"], settings)
    count = loading._parameter_count(config)
    assert count is not None and count > 0
    need = loading.estimate_memory_bytes(count, torch.bfloat16)  # ~1 GiB workspace dominates
    _gpus(monkeypatch, 2 * need, 2 * need)
    assert loading._placement(config, torch.bfloat16, "cuda", "tiny") == {}
    _gpus(monkeypatch, need // 2, need // 2)
    spread = loading._placement(config, torch.bfloat16, "cuda", "tiny")
    assert spread == {
        "device_map": "auto",
        "max_memory": {0: int(need // 2 * WEIGHT_SHARE), 1: int(need // 2 * WEIGHT_SHARE)},
    }
    # A pinned GPU, the CPU, or a single GPU never get a device map.
    assert loading._placement(config, torch.bfloat16, "cuda:1", "tiny") == {}
    assert loading._placement(config, torch.float32, "cpu", "tiny") == {}
    _gpus(monkeypatch, need // 2)
    assert loading._placement(config, torch.bfloat16, "cuda", "tiny") == {}


def test_weights_larger_than_all_gpus_are_refused_with_sizes(
    tiny_model_dirs: dict[str, Path], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _checkpoint, config = _checkpoint_and_config(tiny_model_dirs["llama"], settings)
    _gpus(monkeypatch, 1000, 1000)
    with pytest.raises(ModelLoadError, match=r"tiny cannot be placed on this machine: .* 2 GPUs"):
        loading._placement(config, torch.float32, "cuda", "tiny")


@pytest.mark.parametrize("random_init", [False, True], ids=["checkpoint", "random-init"])
def test_a_device_map_loads_the_same_weights(
    random_init: bool,
    tiny_model_dirs: dict[str, Path],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checkpoint, config = _checkpoint_and_config(tiny_model_dirs["llama"], settings)
    plain = loading.load_weights(checkpoint, config, torch.float32, random_init, {})
    calls: list[dict[str, object]] = []
    real = AutoModelForCausalLM.from_pretrained

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", spy)
    mapped = loading.load_weights(checkpoint, config, torch.float32, random_init, CPU_ONLY)
    if random_init:  # dispatched in memory by accelerate
        assert calls == [] and set(mapped.hf_device_map.values()) == {"cpu"}
    else:  # transformers receives the map and places while it reads the weights
        assert [{k: c[k] for k in CPU_ONLY} for c in calls] == [CPU_ONLY]
    plain_state, mapped_state = plain.state_dict(), mapped.state_dict()
    assert plain_state.keys() == mapped_state.keys()
    assert all(torch.equal(plain_state[k], mapped_state[k]) for k in plain_state)


def test_analysis_through_accelerate_hooks_matches_the_plain_model(
    tiny_model_dirs: dict[str, Path], settings: Settings
) -> None:
    """Capture hooks and logits reduction see the same numbers through accelerate's
    per-module forward wrappers (the mechanism of a multi-GPU device map)."""
    checkpoint, config = _checkpoint_and_config(tiny_model_dirs["llama"], settings)
    plain = loading.load_weights(checkpoint, config, torch.float32, False, {}).eval()
    wrapped = loading.load_weights(checkpoint, config, torch.float32, False, {}).eval()
    device_map = {"model.embed_tokens": "cpu", "model.layers": "cpu", "model.norm": "cpu",
                  "model.rotary_emb": "cpu", "lm_head": "cpu"}  # fmt: skip
    wrapped = dispatch_model(wrapped, device_map=device_map, force_hooks=True)
    assert hasattr(wrapped.model.layers[0], "_hf_hook"), "accelerate did not wrap the blocks"

    windows = torch.randint(3, 384, (8, 48), generator=torch.Generator().manual_seed(0))
    cfg = preset_config(
        "quick", window_len=48, max_tokens=8 * 48, n_contexts=120, min_position=2,
        bootstrap_samples=50, run_surplus=False, run_spectral=False,
    )  # fmt: skip
    corpus = CorpusMeta(source="test", hash="h", num_windows=8, window_len=48, num_tokens=384)
    a = run_analysis(plain, windows, cfg, ModelMeta(source="m"), corpus)
    b = run_analysis(wrapped, windows, cfg, ModelMeta(source="m"), corpus)
    for name, values in a.arrays.items():
        assert torch.equal(torch.as_tensor(values), torch.as_tensor(b.arrays[name])), name
    assert a.result.entropy == b.result.entropy
    assert a.result.lens == b.result.lens
    assert b.result.provenance.device == "cpu"


def test_head_copies_drop_the_device_hooks_of_a_dispatched_model(
    tiny_model_dirs: dict[str, Path], settings: Settings
) -> None:
    """On several GPUs the final norm's hook moves inputs to its own GPU; the lens and probe
    copies of the head live elsewhere, so the copies must not keep that hook. Here the hook
    moves inputs to the ``meta`` device, so a copy that kept it fails with a device mismatch,
    as it would between two GPUs."""
    from accelerate.hooks import ModelHook, add_hook_to_module
    from markovlens.analysis.architecture import introspect
    from markovlens.analysis.probes import FrozenHead

    checkpoint, config = _checkpoint_and_config(tiny_model_dirs["llama"], settings)
    model = loading.load_weights(checkpoint, config, torch.float32, False, {}).eval()
    head = introspect(model).head
    hidden = torch.randn(5, head.unembed.shape[1])
    with torch.no_grad():
        expected = head.logits(hidden)

    class InputsToMeta(ModelHook):  # what AlignDevicesHook does, towards another device
        def pre_forward(self, module, *args, **kwargs):  # type: ignore[no-untyped-def]
            return tuple(a.to("meta") for a in args), kwargs

    add_hook_to_module(head.norm, InputsToMeta())
    with pytest.raises(RuntimeError, match="device"):
        head.norm(hidden)  # the hook is live on the model's own norm
    with torch.no_grad():
        copied = head.to("cpu").logits(hidden)
        probe_head = FrozenHead(head.to("cpu"))(hidden)
    assert copied.device.type == "cpu" and torch.allclose(copied, expected)
    assert torch.allclose(probe_head, expected)

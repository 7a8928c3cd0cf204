"""load_model / inspect_model on tiny checkpoints, through the real loading code."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from markovlens.models import ModelLoadError, estimate_memory_bytes, inspect_model, load_model
from markovlens.models.device import resolve_device, resolve_dtype
from safetensors import safe_open

from tests.tiny_models import build_tiny_model

EXPECTED_ARCH = {
    "llama": "LlamaForCausalLM",
    "gpt2": "GPT2LMHeadModel",
    "gpt_neox": "GPTNeoXForCausalLM",
    "gemma2": "Gemma2ForCausalLM",
}


def saved_tensors(directory: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(directory / "model.safetensors"), framework="pt") as handle:
        return {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118


def expected_hash(directory: Path) -> str:
    """The documented content hash, recomputed independently: sha256 of (name, sha256)."""
    outer = hashlib.sha256()
    for path in sorted(directory.glob("*.safetensors")):
        inner = hashlib.sha256(path.read_bytes()).hexdigest()
        outer.update(f"{path.name}\0{inner}\n".encode())
    return "sha256:" + outer.hexdigest()


@pytest.mark.parametrize("arch", sorted(EXPECTED_ARCH))
def test_meta_and_weights_match_the_checkpoint(arch: str, tiny_model_dirs, settings):
    directory = tiny_model_dirs[arch]
    loaded = load_model(f"local:{directory}", settings)
    meta = loaded.meta
    tensors = saved_tensors(directory)
    assert meta.source == f"local:{directory}"
    assert meta.architecture == EXPECTED_ARCH[arch]
    assert (meta.num_layers, meta.hidden_size, meta.vocab_size) == (2, 32, 384)
    # safetensors stores a tied tensor once, so its total is the unique parameter count.
    assert meta.num_parameters == sum(t.numel() for t in tensors.values())
    assert meta.revision == "local"
    assert meta.content_hash == expected_hash(directory)
    assert (loaded.device, loaded.dtype) == ("cpu", "float32")
    assert not loaded.model.training
    assert loaded.tokenizer is not None and len(loaded.tokenizer) == 384
    assert (loaded.run_name, loaded.training_step) == (None, None)
    # The weights are the saved ones, not a fresh init.
    state = loaded.model.state_dict()
    name = next(n for n in tensors if n in state and tensors[n].ndim == 2)
    assert torch.equal(state[name], tensors[name])
    logits = loaded.model(torch.tensor([[5, 6, 7]])).logits
    assert logits.shape == (1, 3, 384)


@pytest.mark.parametrize("arch", sorted(EXPECTED_ARCH))
def test_inspect_model_matches_load_without_weights(arch: str, tiny_model_dirs, settings):
    source = f"local:{tiny_model_dirs[arch]}"
    assert inspect_model(source, settings) == load_model(source, settings).meta


def test_dtype_override_and_auto(tiny_model_dirs, settings):
    loaded = load_model(f"local:{tiny_model_dirs['llama']}", settings, dtype="bf16")
    assert loaded.dtype == "bfloat16"
    assert {p.dtype for p in loaded.model.parameters()} == {torch.bfloat16}
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype(None, "cuda") == torch.bfloat16
    with pytest.raises(ModelLoadError, match="unknown dtype 'int3'"):
        resolve_dtype("int3", "cpu")


def test_device_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ModelLoadError, match="CUDA is not available"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device(None) == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"


def test_lab_checkpoint_metadata(tiny_model_dirs, settings, tmp_path):
    directory = tmp_path / "root" / "run"
    shutil.copytree(tiny_model_dirs["gpt2"], directory)
    (directory / "markovlens.json").write_text(
        json.dumps({"run_name": "lookahead-a", "training_step": 1200, "source": "synthetic:x"})
    )
    loaded = load_model(f"local:{directory}", settings)
    assert (loaded.run_name, loaded.training_step) == ("lookahead-a", 1200)
    (directory / "markovlens.json").write_text(json.dumps({"training_step": "late"}))
    with pytest.raises(ModelLoadError, match="training_step must be an integer"):
        load_model(f"local:{directory}", settings)


def test_checkpoint_without_tokenizer_loads_with_none(tiny_model_dirs, settings, tmp_path):
    directory = tmp_path / "root" / "synthetic-vocab"
    directory.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_model_dirs["llama"] / name, directory / name)
    loaded = load_model(f"local:{directory}", settings)
    assert loaded.tokenizer is None
    assert loaded.meta.vocab_size == 384


class TestRandomInit:
    def test_same_shapes_fresh_weights_deterministic(self, settings, tmp_path):
        # The session's tiny models are themselves seed-0 inits, identical to random-init's
        # weights; a "trained" model must come from another seed to be told apart.
        directory = build_tiny_model("gpt_neox", tmp_path / "root" / "neox-seed1", seed=1)
        source = f"local:{directory}"
        trained = load_model(source, settings)
        first = load_model(f"random-init:{source}", settings)
        second = load_model(f"random-init:{source}", settings)
        trained_state, first_state = trained.model.state_dict(), first.model.state_dict()
        assert trained_state.keys() == first_state.keys()
        differing = 0
        for name, tensor in trained_state.items():
            assert first_state[name].shape == tensor.shape
            assert torch.equal(first_state[name], second.model.state_dict()[name])
            differing += int(not torch.equal(first_state[name], tensor))
        # Every weight matrix is re-drawn (norm gains may legitimately both be ones).
        matrices = [n for n, t in trained_state.items() if t.ndim == 2]
        assert differing >= len(matrices) > 0
        assert first.meta.revision == "random-init(seed=0)/local"
        assert first.meta.source == f"random-init:{source}"
        assert first.meta.content_hash == second.meta.content_hash != trained.meta.content_hash
        assert first.meta.num_parameters == trained.meta.num_parameters
        assert first.tokenizer is not None
        assert first.tokenizer.get_vocab() == trained.tokenizer.get_vocab()

    def test_random_init_equals_a_seed0_init(self, tiny_model_dirs, settings):
        # Known answer: the session's tiny models were built by manual_seed(0) + from_config.
        source = f"local:{tiny_model_dirs['llama']}"
        fresh = load_model(f"random-init:{source}", settings).model.state_dict()
        saved = load_model(source, settings).model.state_dict()
        assert all(torch.equal(fresh[name], saved[name]) for name in saved)

    def test_random_init_reads_no_weights(self, tiny_model_dirs, settings, tmp_path):
        # A config-only directory is enough: the inner weights are never read.
        directory = tmp_path / "root" / "config-only"
        directory.mkdir(parents=True)
        shutil.copy(tiny_model_dirs["llama"] / "config.json", directory / "config.json")
        loaded = load_model(f"random-init:local:{directory}", settings)
        assert loaded.meta.architecture == "LlamaForCausalLM"
        assert inspect_model(f"random-init:local:{directory}", settings) == loaded.meta


def test_estimate_memory_bytes_known_values():
    gib = 1 << 30
    assert estimate_memory_bytes(10**9, "bf16") == int(2e9 * 1.25) + gib
    assert estimate_memory_bytes(10**9, "float32") == int(4e9 * 1.25) + gib
    assert estimate_memory_bytes(10**9, torch.float16) == estimate_memory_bytes(10**9, "bf16")
    assert estimate_memory_bytes(0, "fp32") == gib
    assert estimate_memory_bytes(10**9, "auto") == estimate_memory_bytes(10**9, "float32")
    with pytest.raises(ModelLoadError, match="unknown dtype"):
        estimate_memory_bytes(10**9, "int4")


def test_content_hash_cache_hits_and_invalidates(tiny_model_dirs, settings, tmp_path, monkeypatch):
    from markovlens.models import hashing

    directory = tmp_path / "root" / "cached"
    shutil.copytree(tiny_model_dirs["llama"], directory)
    calls: list[Path] = []
    real = hashing.sha256_file

    def counting(path: Path) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(hashing, "sha256_file", counting)
    first = inspect_model(f"local:{directory}", settings).content_hash
    second = inspect_model(f"local:{directory}", settings).content_hash
    assert first == second == expected_hash(directory)
    assert len(calls) == 1  # the second answer came from the cache
    weights = directory / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # change the last byte of a tensor, keep the size
    weights.write_bytes(bytes(data))
    third = inspect_model(f"local:{directory}", settings).content_hash
    assert third == expected_hash(directory) != first
    assert len(calls) == 2

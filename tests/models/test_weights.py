"""Parameter counts from weight headers equal the loaded models' counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from markovlens.models.weights import gguf_parameters, parameter_count_hint
from markovlens.settings import Settings
from transformers import AutoModelForCausalLM

SMOLLM2_PARAMETERS = 134_515_008  # SmolLM2-135M, tied embeddings counted once


@pytest.mark.parametrize("arch", ["llama", "gpt2", "gpt_neox", "gemma2"])
def test_safetensors_header_count_matches_the_model(
    arch: str, tiny_model_dirs: dict[str, Path], tmp_path: Path
) -> None:
    directory = tiny_model_dirs[arch]
    settings = Settings(data_dir=tmp_path, model_roots=[directory.parent])
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32)
    expected = sum(p.numel() for p in model.parameters())
    assert parameter_count_hint(f"local:{directory}", settings) == expected
    # random-init has the same architecture, hence the same count.
    assert parameter_count_hint(f"random-init:local:{directory}", settings) == expected


def test_gguf_header_count_on_a_written_file(tmp_path: Path) -> None:
    """Metadata of every kind (strings, string arrays, nested arrays) is skipped correctly."""
    import gguf

    path = tmp_path / "m.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_string("general.name", "tiny")
    writer.add_array("tokenizer.ggml.tokens", ["a", "bb", "ccc"] * 50)
    writer.add_array("x.nested", [[1, 2], [3]])
    writer.add_uint32("x.u32", 7)
    writer.add_float32("x.f32", 0.5)
    writer.add_bool("x.flag", True)
    writer.add_tensor("w1", np.zeros((3, 5), dtype=np.float32))
    writer.add_tensor("w2", np.zeros((7,), dtype=np.float32))
    writer.add_tensor("w3", np.zeros((2, 3, 4), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert gguf_parameters(path) == 15 + 7 + 24


def test_builtin_smollm2_count_from_its_gguf(tmp_path: Path) -> None:
    assert parameter_count_hint("builtin:smollm2-135m", Settings(data_dir=tmp_path)) == (
        SMOLLM2_PARAMETERS
    )


def test_unknown_cases_are_none(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, model_roots=[tmp_path])
    assert parameter_count_hint("hf:gpt2", settings) is None  # would need the network
    assert parameter_count_hint(f"local:{tmp_path / 'missing'}", settings) is None
    (tmp_path / "bad.gguf").write_bytes(b"NOPE" + bytes(64))
    assert parameter_count_hint(f"gguf:{tmp_path / 'bad.gguf'}", settings) is None

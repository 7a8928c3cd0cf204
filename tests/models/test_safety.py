"""Refusals: paths outside the roots, pickle weights, remote code, non-causal models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from markovlens.models import ModelLoadError, inspect_model, load_model
from markovlens.settings import Settings
from transformers import BertConfig, BertModel, T5Config, T5ForConditionalGeneration


def refused(source: str, settings: Settings) -> str:
    """The message of the ModelLoadError that both load_model and inspect_model raise."""
    with pytest.raises(ModelLoadError) as loaded:
        load_model(source, settings)
    with pytest.raises(ModelLoadError) as inspected:
        inspect_model(source, settings)
    assert str(loaded.value) == str(inspected.value)
    return str(loaded.value)


class TestPaths:
    def test_traversal_out_of_the_roots(self, settings):
        message = refused("local:/root/../etc", settings)
        assert "outside the allowed model roots" in message
        assert "resolves" not in message  # the resolved target is never shown

    def test_dotdot_from_inside_a_root(self, settings, tiny_root):
        message = refused(f"local:{tiny_root}/llama/../../..", settings)
        assert "outside the allowed model roots" in message

    def test_symlink_escape(self, settings, tiny_model_dirs, tmp_path):
        outside = tmp_path / "outside"
        shutil.copytree(tiny_model_dirs["llama"], outside)
        (tmp_path / "root").mkdir()
        link = tmp_path / "root" / "innocent"
        link.symlink_to(outside, target_is_directory=True)
        message = refused(f"local:{link}", settings)
        assert "outside the allowed model roots" in message
        assert str(outside) not in message  # where the link leads is not told

    def test_symlinked_weight_file_escaping(self, settings, tiny_model_dirs, tmp_path):
        directory = tmp_path / "root" / "linked-weights"
        shutil.copytree(tiny_model_dirs["llama"], directory)
        outside = tmp_path / "elsewhere.safetensors"
        (directory / "model.safetensors").rename(outside)
        (directory / "model.safetensors").symlink_to(outside)
        message = refused(f"local:{directory}", settings)
        assert "contains 'model.safetensors', a link outside the allowed" in message
        assert str(outside) not in message

    def test_symlink_inside_the_roots_is_followed(self, settings, tiny_model_dirs, tmp_path):
        (tmp_path / "root").mkdir()
        link = tmp_path / "root" / "alias"
        link.symlink_to(tiny_model_dirs["gpt2"], target_is_directory=True)
        assert load_model(f"local:{link}", settings).meta.architecture == "GPT2LMHeadModel"

    def test_no_roots_configured(self, tiny_model_dirs, tmp_path):
        empty = Settings(model_roots=[], data_dir=tmp_path)
        message = refused(f"local:{tiny_model_dirs['llama']}", empty)
        assert "no model roots are configured" in message
        assert "MARKOVLENS_MODEL_ROOTS" in message
        assert "no model roots" in refused("gguf:/tmp/model.gguf", empty)

    def test_roots_from_the_environment_json(self, monkeypatch, tiny_model_dirs, tiny_root):
        monkeypatch.setenv("MARKOVLENS_MODEL_ROOTS", json.dumps(["/nonexistent", str(tiny_root)]))
        from_env = Settings()
        assert load_model(f"local:{tiny_model_dirs['llama']}", from_env).meta.num_layers == 2

    def test_roots_from_the_environment_commas(self, monkeypatch, tiny_model_dirs, tiny_root):
        monkeypatch.setenv("MARKOVLENS_MODEL_ROOTS", f"/nonexistent,{tiny_root}")
        from_env = Settings()
        assert load_model(f"local:{tiny_model_dirs['llama']}", from_env).meta.num_layers == 2

    def test_missing_and_wrong_kind(self, settings, tiny_model_dirs, tiny_root, tmp_path):
        assert "does not exist" in refused(f"local:{tiny_root}/nope", settings)
        weights = tiny_model_dirs["llama"] / "model.safetensors"
        assert "is not a directory" in refused(f"local:{weights}", settings)
        (tmp_path / "root" / "dir.gguf").mkdir(parents=True)
        assert "is not a file" in refused(f"gguf:{tmp_path}/root/dir.gguf", settings)

    def test_gguf_outside_the_roots(self, settings):
        assert "outside the allowed model roots" in refused("gguf:/etc/model.gguf", settings)


def copy_model(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_pickle_only_directory_is_refused(settings, tiny_model_dirs, tmp_path):
    directory = copy_model(tiny_model_dirs["llama"], tmp_path / "root" / "pickled")
    loaded = load_model(f"local:{directory}", settings)
    torch.save(loaded.model.state_dict(), directory / "pytorch_model.bin")
    (directory / "model.safetensors").unlink()
    sentinel = directory / "pytorch_model.bin"
    atime = sentinel.stat().st_atime_ns
    with pytest.raises(ModelLoadError) as info:
        load_model(f"local:{directory}", settings)
    assert "pickle weights are refused: convert to safetensors" in str(info.value)
    assert "pytorch_model.bin" in str(info.value)
    assert sentinel.stat().st_atime_ns == atime  # never even opened (where atime is kept)


def test_safetensors_preferred_when_pickle_also_present(settings, tiny_model_dirs, tmp_path):
    directory = copy_model(tiny_model_dirs["gpt2"], tmp_path / "root" / "both")
    # A pickle that would fail loudly if it were ever unpickled.
    (directory / "pytorch_model.bin").write_bytes(b"not a pickle")
    assert load_model(f"local:{directory}", settings).meta.architecture == "GPT2LMHeadModel"


def test_directory_without_weights(settings, tiny_model_dirs, tmp_path):
    directory = tmp_path / "root" / "empty"
    directory.mkdir(parents=True)
    shutil.copy(tiny_model_dirs["llama"] / "config.json", directory)
    with pytest.raises(ModelLoadError, match="no safetensors weights found"):
        load_model(f"local:{directory}", settings)


def test_remote_code_config_is_refused(settings, tiny_model_dirs, tmp_path):
    directory = copy_model(tiny_model_dirs["llama"], tmp_path / "root" / "remote")
    config = json.loads((directory / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "modeling_evil.py").write_text("raise SystemExit('remote code ran')\n")
    message = refused(f"local:{directory}", settings)
    assert "needs remote code" in message and "trust_remote_code is refused" in message
    assert "needs remote code" in refused(f"random-init:local:{directory}", settings)


def test_bert_is_not_a_causal_lm(settings, tmp_path):
    directory = tmp_path / "root" / "bert"
    config = BertConfig(
        vocab_size=64,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    BertModel(config).save_pretrained(directory)
    message = refused(f"local:{directory}", settings)
    assert "BertModel is not a causal language model" in message
    assert "not a causal language model" in refused(f"random-init:local:{directory}", settings)


def test_t5_is_not_a_causal_lm(settings, tmp_path):
    directory = tmp_path / "root" / "t5"
    config = T5Config(
        vocab_size=64,
        d_model=16,
        d_kv=8,
        d_ff=32,
        num_layers=1,
        num_heads=2,
        decoder_start_token_id=0,
    )
    T5ForConditionalGeneration(config).save_pretrained(directory)
    message = refused(f"local:{directory}", settings)
    assert "T5ForConditionalGeneration" in message
    assert "not a causal language model" in message


def test_directory_without_config(settings, tmp_path):
    directory = tmp_path / "root" / "noconfig"
    directory.mkdir(parents=True)
    assert "has no config.json" in refused(f"local:{directory}", settings)

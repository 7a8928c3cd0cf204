"""Fixtures for the hardening tests: the real app (TestClient) with tokens and model roots."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ClientFactory

TOKEN = "t0k-3n_for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def model_root(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    root.mkdir()
    return root


@pytest.fixture
def make_client(make_client: ClientFactory, model_root: Path) -> ClientFactory:
    """``make_client(**settings)``: the shared factory with tokens and model roots by default."""

    def factory(**overrides: Any) -> TestClient:
        defaults: dict[str, Any] = {"api_tokens": [TOKEN], "model_roots": [model_root]}
        return make_client(**{**defaults, **overrides})  # type: ignore[no-any-return]

    return factory


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def copy_model(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


@pytest.fixture
def bad_models(
    tiny_model_dirs: dict[str, Path], model_root: Path, tmp_path: Path
) -> dict[str, Path]:
    """Model directories every check must refuse, plus one good one, under ``model_root``."""
    from transformers import BertConfig, BertModel

    good = copy_model(tiny_model_dirs["llama"], model_root / "good")
    pickle_only = copy_model(tiny_model_dirs["llama"], model_root / "pickle-only")
    for weights in pickle_only.glob("*.safetensors"):
        weights.unlink()
    (pickle_only / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    remote = copy_model(tiny_model_dirs["llama"], model_root / "remote-code")
    config = json.loads((remote / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (remote / "config.json").write_text(json.dumps(config))
    (remote / "modeling_evil.py").write_text("raise SystemExit('remote code ran')\n")
    bert = model_root / "bert"
    BertModel(
        BertConfig(
            vocab_size=64,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
        )
    ).save_pretrained(bert)
    outside = copy_model(tiny_model_dirs["llama"], tmp_path / "outside")
    (model_root / "escape-link").symlink_to(outside, target_is_directory=True)
    linked_weights = copy_model(tiny_model_dirs["llama"], model_root / "linked-weights")
    for weights in linked_weights.glob("*.safetensors"):
        weights.unlink()
        weights.symlink_to(next(outside.glob("*.safetensors")))
    return {
        "good": good,
        "pickle-only": pickle_only,
        "remote-code": remote,
        "bert": bert,
        "outside": outside,
        "escape-link": model_root / "escape-link",
        "linked-weights": linked_weights,
    }

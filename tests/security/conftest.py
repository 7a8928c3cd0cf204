"""Fixtures for the hardening tests: the real app (TestClient) with tokens and model roots."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
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


@dataclass
class LiveServer:
    """``markovlens serve`` in a subprocess on a loopback port (real uvicorn, real sockets)."""

    host: str
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(tmp_path: Path, **env: str) -> Iterator[LiveServer]:
    """Start ``markovlens serve`` with ``MARKOVLENS_<NAME>`` overrides; stop it afterwards."""
    port = _free_port()
    log_path = tmp_path / f"serve-{port}.log"
    environment = {
        **os.environ,
        "MARKOVLENS_DATA_DIR": str(tmp_path / f"data-{port}"),
        "MARKOVLENS_EMBEDDED_WORKER": "false",
        **{f"MARKOVLENS_{name.upper()}": value for name, value in env.items()},
    }
    cli = Path(sys.executable).parent / "markovlens"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(cli), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        server = LiveServer("127.0.0.1", port, log_path)
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"{server.base}/api/v1/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {log_path.read_text()}")
                time.sleep(0.25)
            yield server
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

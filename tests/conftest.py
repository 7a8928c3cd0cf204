"""Session-wide fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markovlens.api import create_app
from markovlens.settings import Settings

from tests.tiny_models import build_tiny_model

ClientFactory = Callable[..., Any]
# What a TestClient needs to pass the request guard like the UI does: its Host ("testserver")
# allowed, and the header the UI and CLI send on writes (api/origin.py).
TEST_HOSTS = ["testserver"]
UI_HEADERS = {"X-Markovlens-Client": "tests"}


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Saved tiny models by architecture name: llama, gpt2, gpt_neox, gemma2."""
    root = tmp_path_factory.mktemp("tiny-models")
    return {
        arch: build_tiny_model(arch, root / arch)
        for arch in ("llama", "gpt2", "gpt_neox", "gemma2")
    }


@pytest.fixture
def frontend_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "frontend"
    directory.mkdir()
    (directory / "index.html").write_text("<!doctype html><title>markovlens test</title>")
    return directory


def build_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "embedded_worker": False,
        "allowed_hosts": TEST_HOSTS,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def make_client(tmp_path: Path, frontend_dir: Path) -> Iterator[ClientFactory]:
    """``make_client(**settings)`` -> a started TestClient (lifespan ran: migrated DB)."""
    stack: list[Any] = []

    def factory(**overrides: Any) -> TestClient:
        settings = build_settings(tmp_path, **overrides)
        client = TestClient(create_app(settings, frontend_dir=frontend_dir), headers=UI_HEADERS)
        stack.append(client)
        return client.__enter__()

    yield factory
    for client in reversed(stack):
        client.__exit__(None, None, None)

"""Fixtures for the model-source tests: settings whose model roots hold the tiny models."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import constants
from markovlens.models import hub
from markovlens.settings import Settings


@pytest.fixture
def tiny_root(tiny_model_dirs: dict[str, Path]) -> Path:
    """The directory that holds every tiny model (the allow-listed root)."""
    return tiny_model_dirs["llama"].parent


@pytest.fixture
def settings(tiny_root: Path, tmp_path: Path) -> Settings:
    return Settings(model_roots=[tiny_root, tmp_path / "root"], data_dir=tmp_path / "data")


@pytest.fixture
def hub_endpoint(monkeypatch: pytest.MonkeyPatch):
    """Point the Hub client at a given endpoint (loopback only) and make it online."""

    def point(url: str, timeout: float = 2.0) -> None:
        monkeypatch.setattr(constants, "ENDPOINT", url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(hub, "HUB_TIMEOUT_S", timeout)

    return point

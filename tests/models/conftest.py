"""Fixtures for the model-source tests: settings whose model roots hold the tiny models."""

from __future__ import annotations

from pathlib import Path

import pytest
import transformers.utils.hub
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
def hub_endpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Point the Hub client at a given endpoint (loopback only) and make it online."""

    def point(url: str, timeout: float = 2.0) -> None:
        monkeypatch.setattr(constants, "ENDPOINT", url)
        # hf_hub_url builds file URLs from this template (fixed at import from HF_ENDPOINT).
        template = url + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
        # transformers keeps one HfApi (bound to the endpoint of its first use): drop it.
        monkeypatch.setattr(transformers.utils.hub, "_hf_api", None)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(hub, "HUB_TIMEOUT_S", timeout)

    return point

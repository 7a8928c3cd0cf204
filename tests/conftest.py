"""Session-wide fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_models import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Saved tiny models by architecture name: llama, gpt2, gpt_neox, gemma2."""
    root = tmp_path_factory.mktemp("tiny-models")
    return {
        arch: build_tiny_model(arch, root / arch)
        for arch in ("llama", "gpt2", "gpt_neox", "gemma2")
    }

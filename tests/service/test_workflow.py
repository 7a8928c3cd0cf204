"""run_sources: the one load → resolve → analyse workflow of jobs, the CLI and the benchmarks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from markovlens.schema.config import preset_config
from markovlens.service.workflow import LOAD_CORPUS_END, SourcesError, load_sources, run_sources
from markovlens.settings import Settings

from tests.worker.helpers import FAST_CONFIG


def _settings(tmp_path: Path, model_dir: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", model_roots=[model_dir.parent])


def test_progress_rises_and_the_model_comes_before_the_corpus(
    tiny_model_dirs: dict[str, Path], tmp_path: Path
) -> None:
    model_dir = tiny_model_dirs["llama"]
    events: list[tuple[str, float, str]] = []
    run = run_sources(
        f"local:{model_dir}",
        "builtin:python-docs",
        preset_config("quick", **FAST_CONFIG),  # type: ignore[arg-type]
        _settings(tmp_path, model_dir),
        device="cpu",
        dtype="float32",
        progress=lambda f, stage: events.append(("progress", f, stage)),
        step=lambda f, stage: events.append(("step", f, stage)),
        on_model=lambda loaded: events.append(("model", -1.0, loaded.meta.architecture)),
    )
    assert run.loaded.meta.architecture == "LlamaForCausalLM"
    assert run.output.result.entropy is not None
    kinds = [kind for kind, _, _ in events]
    assert kinds[:3] == ["step", "step", "model"]  # importing, loading model, then the model
    assert (events[3][0], events[3][2]) == ("step", "loading corpus")
    fractions = [f for kind, f, _ in events if kind != "model"]
    assert fractions == sorted(fractions) and fractions[-1] <= 1.0
    assert ("progress", LOAD_CORPUS_END, "analysis") in events


def test_bad_sources_are_bad_input_and_a_missing_model_is_named(
    tiny_model_dirs: dict[str, Path], tmp_path: Path
) -> None:
    model_dir = tiny_model_dirs["gpt2"]
    settings = _settings(tmp_path, model_dir)
    with pytest.raises(SourcesError) as bad_corpus:
        load_sources(f"local:{model_dir}", "nope:thing", settings, **_windows())
    assert bad_corpus.value.kind == "corpus" and bad_corpus.value.bad_input
    with pytest.raises(SourcesError) as bad_model:
        load_sources("nope:thing", "builtin:python-docs", settings, **_windows())
    assert bad_model.value.kind == "model-source" and bad_model.value.bad_input
    missing = model_dir.parent / "absent"
    with pytest.raises(SourcesError) as absent:
        load_sources(f"local:{missing}", "builtin:python-docs", settings, **_windows())
    assert "absent" in str(absent.value)


def _windows() -> dict[str, int]:
    return {"window_len": 64, "max_tokens": 1024, "seed": 0}


def test_importing_the_service_layer_loads_no_torch() -> None:
    code = (
        "import sys\n"
        "import markovlens.service.catalog, markovlens.service.submission\n"
        "import markovlens.service.workflow, markovlens.service.schemas\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

"""``markovlens lab``: sources listing and train → register → submit through the database."""

from __future__ import annotations

from pathlib import Path

import pytest
from markovlens.lab.commands import lab_app
from markovlens.settings import get_settings
from typer.testing import CliRunner


def test_sources_lists_every_source() -> None:
    result = CliRunner().invoke(lab_app, ["sources"])
    assert result.exit_code == 0, result.output
    for name in ("markov", "mess3", "lookahead"):
        assert f"synthetic:{name}" in result.output


def test_train_registers_checkpoints_and_queues_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARKOVLENS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MARKOVLENS_MODEL_ROOTS", str(tmp_path))
    get_settings.cache_clear() if hasattr(get_settings, "cache_clear") else None
    args = ["train", "--source", "synthetic:markov", "--steps", "6", "--checkpoints", "0,3"]
    result = CliRunner().invoke(lab_app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("job ") == 3  # steps 0, 3 and the final 6
    from markovlens.service import catalog
    from markovlens.store import open_database

    db = open_database(get_settings().resolved_database_url)
    try:
        with db.session() as session:
            models = {m.training_step: m for m in catalog.list_models(session)}
            jobs = catalog.list_jobs(session).items
    finally:
        db.dispose()
    assert sorted(models) == [0, 3, 6]
    assert {m.run_name for m in models.values()} == {"markov-seed0"}
    assert models[6].label == "markov-seed0@6"
    assert models[6].source.startswith("local:") and "step-000006" in models[6].source
    assert len(jobs) == 3 and {j.corpus_source for j in jobs} == {"synthetic:markov"}
    assert all(j.config["window_len"] == 64 for j in jobs)


def test_train_rejects_unknown_source() -> None:
    result = CliRunner().invoke(lab_app, ["train", "--source", "synthetic:nope", "--no-submit"])
    assert result.exit_code == 2
    assert "unknown synthetic source" in result.output

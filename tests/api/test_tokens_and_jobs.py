"""API: the token view of a stored result, the server's limits and presets for the form, and a
job's detail (config, stage timings, log)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from markovlens.analysis.pipeline import run_analysis
from markovlens.analysis.tokens import vocabulary_table
from markovlens.schema.config import AnalysisConfig, preset_config
from markovlens.schema.result import CorpusMeta, ModelMeta
from markovlens.store.arrays import pack_arrays
from markovlens.store.tables import Corpus, Job, Model, Result
from transformers import AutoModelForCausalLM

from tests.tiny_models import build_tiny_model

N_WIN, T = 4, 32
STARTED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _store(
    client: TestClient,
    *,
    status: str = "succeeded",
    payload: dict[str, Any] | None = None,
    arrays: dict[str, np.ndarray] | None = None,
    preset: str = "quick",
    progress: float = 1.0,
    error: str | None = None,
    seconds: float = 90.0,
    model_source: str = "local:/m",
    vocab_size: int | None = None,
) -> tuple[int, int | None]:
    """A job row (and its result when it succeeded); returns (job id, result id)."""
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        model = session.query(Model).filter_by(source=model_source).one_or_none()
        if model is None:
            model = Model(source=model_source, revision="", vocab_size=vocab_size)
            session.add(model)
        corpus = session.query(Corpus).filter_by(source="builtin:python-docs").one_or_none()
        if corpus is None:
            corpus = Corpus(source="builtin:python-docs")
            session.add(corpus)
        session.flush()
        job = Job(
            model_id=model.id, corpus_id=corpus.id, model_source=model_source,
            corpus_source="builtin:python-docs", preset=preset, config={"preset": preset},
            dedupe_key=f"k{datetime.now().timestamp()}", status=status, progress=progress,
            stage="failed" if status == "failed" else status, attempts=1, error=error,
            created_at=STARTED - timedelta(seconds=5), started_at=STARTED,
            finished_at=STARTED + timedelta(seconds=seconds),
        )  # fmt: skip
        session.add(job)
        session.flush()
        result_id = None
        if status == "succeeded":
            result = Result(
                job_id=job.id, model_id=model.id, corpus_id=corpus.id, schema_version=1,
                payload=payload or {}, arrays=pack_arrays(arrays or {}),
            )  # fmt: skip
            session.add(result)
            session.flush()
            result_id = result.id
        session.commit()
        return job.id, result_id


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    directory = build_tiny_model("llama", tmp_path_factory.mktemp("m") / "llama")
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()
    windows = torch.randint(3, 384, (N_WIN, T), generator=torch.Generator().manual_seed(1))
    config = preset_config(
        "quick", window_len=T, max_tokens=N_WIN * T, n_contexts=40, min_position=2,
        bootstrap_samples=50, run_surplus=False, run_spectral=False,
    )  # fmt: skip
    meta = CorpusMeta(source="c", hash="h", num_windows=N_WIN, window_len=T, num_tokens=N_WIN * T)
    out = run_analysis(model, windows, config, ModelMeta(source="local:/m"), meta)
    arrays = dict(out.arrays)
    arrays.update(vocabulary_table(arrays, lambda i: f"tok{i}"))
    return json.loads(out.result.model_dump_json()), arrays


def test_token_view_of_a_stored_result(make_client: Any, analysed: Any) -> None:
    client = make_client()
    payload, arrays = analysed
    _job, rid = _store(client, payload=payload, arrays=arrays)
    body = client.get(f"/api/v1/results/{rid}/tokens", params={"window": 2}).json()
    assert body["window"] == 2 and body["num_windows"] == N_WIN and body["window_len"] == T
    assert body["tokens"] == [f"tok{i}" for i in arrays["token_ids"][2].tolist()]
    assert len(body["topk"]) == T - 1 and len(body["topk"][0]) == 5
    assert all(sum(t["prob"] for t in row) <= 1.0 for row in body["topk"])
    keys = [q["key"] for q in body["quantities"]]
    assert keys[:4] == ["nll", "entropy", "nll_minus_entropy", "top1_hit"]
    assert any(k.startswith("lens_kl_l") for k in keys)
    assert body["values"]["nll"][-1] is None  # JSON null, never NaN
    # Out of range and unknown results: 404 with a readable detail.
    response = client.get(f"/api/v1/results/{rid}/tokens", params={"window": N_WIN})
    assert response.status_code == 404 and "out of range" in response.json()["detail"]
    assert client.get("/api/v1/results/999/tokens").status_code == 404
    # A result stored before the token view existed says what to do.
    _job, old = _store(client, payload=payload, arrays={"nll": arrays["nll"]})
    response = client.get(f"/api/v1/results/{old}/tokens")
    assert response.status_code == 404 and "re-run" in response.json()["detail"]


def test_server_config_reports_the_servers_own_limits_and_presets(
    make_client: Any, tmp_path: Path
) -> None:
    root = tmp_path / "models"
    lab = root / "run" / "step-100"
    lab.mkdir(parents=True)
    (lab / "markovlens.json").write_text("{}")
    (lab / "config.json").write_text(json.dumps({"vocab_size": 12}))
    other = root / "big"
    other.mkdir()
    (other / "markovlens.json").write_text("{}")
    (other / "config.json").write_text(json.dumps({"vocab_size": 50000}))
    client = make_client(model_roots=[root])
    _store(client, preset="quick", seconds=60.0, model_source="local:/a")
    _store(client, preset="quick", seconds=120.0, model_source="local:/a")
    _store(client, preset="quick", seconds=30.0, model_source="local:/b", vocab_size=8)
    _store(client, preset="quick", status="failed", seconds=5.0, error="boom")
    body = client.get("/api/v1/server-config").json()
    n_contexts = AnalysisConfig.model_fields["n_contexts"].metadata
    maximum = next(m.le for m in n_contexts if getattr(m, "le", None) is not None)
    assert body["limits"]["n_contexts"]["maximum"] == maximum == 65_536
    assert body["limits"]["window_len"]["minimum"] == 8
    # max_tokens has no bound in the config; the server's own setting is the form's maximum.
    assert body["limits"]["max_tokens"]["maximum"] == 2_000_000
    assert body["default_preset"] == "quick"
    presets = {p["name"]: p for p in body["presets"]}
    assert presets["quick"]["config"]["n_contexts"] == preset_config("quick").n_contexts
    assert presets["standard"]["config"]["window_len"] == preset_config("standard").window_len
    quick = presets["quick"]["estimate"]
    # Succeeded jobs only: the failed 5 s job does not pull the median down.
    assert quick["observed_jobs"] == 3 and quick["observed_median_seconds"] == 60.0
    assert quick["by_model"] == {"local:/a": 90.0, "local:/b": 30.0}
    assert presets["full"]["estimate"]["observed_median_seconds"] is None
    synthetic = {s["source"]: s for s in body["synthetic"]}
    assert synthetic["synthetic:lookahead"]["vocab_size"] == 12
    assert synthetic["synthetic:lookahead"]["models"] == [f"local:{lab}"]
    assert synthetic["synthetic:markov"]["models"] == ["local:/b"]  # a model seen with V = 8
    assert synthetic["synthetic:mess3"]["models"] == []


def test_job_detail_has_config_stage_timings_and_a_log(make_client: Any, analysed: Any) -> None:
    client = make_client()
    payload, arrays = analysed
    job_id, _rid = _store(client, payload=payload, arrays=arrays, seconds=200.0)
    body = client.get(f"/api/v1/jobs/{job_id}/detail").json()
    stages = [s["stage"] for s in body["stages"]]
    assert stages[:2] == ["capture", "lens"] and "total" not in stages
    seconds = payload["provenance"]["stage_seconds"]
    assert body["stages"][0]["seconds"] == pytest.approx(seconds["capture"])
    assert body["total_seconds"] == 200.0
    events = [e["event"] for e in body["log"]]
    assert events[0] == "submitted" and events[1] == "started" and events[-1] == "succeeded"
    assert "capture done" in events
    times = [datetime.fromisoformat(e["at"]) for e in body["log"] if e["at"]]
    assert times == sorted(times)
    assert body["job"]["config"] == {"preset": "quick"} and body["notes"]

    failed, _ = _store(client, status="failed", progress=0.54, error="analysis failed: boom")
    body = client.get(f"/api/v1/jobs/{failed}/detail").json()
    last = body["log"][-1]
    assert last["event"] == "failed" and last["level"] == "error"
    assert last["detail"] == "at 54%: analysis failed: boom" and body["stages"] == []
    assert client.get("/api/v1/jobs/9999/detail").status_code == 404

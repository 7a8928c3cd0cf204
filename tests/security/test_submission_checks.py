"""Inputs that used to be accepted and then failed later (or never ran) are refused at once,
each with a message that says what would work."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from markovlens.lab.synthetic_sources import get_source, source_names
from markovlens.store import repo_workers

from tests.security.conftest import AUTH
from tests.tiny_models import build_tiny_model

JOB = {"model": "builtin:smollm2-135m", "corpus": "builtin:python-docs", "preset": "quick"}


def post(client: TestClient, **body: object) -> httpx.Response:
    return client.post("/api/v1/jobs", json={**JOB, **body}, headers=AUTH)


def refused(client: TestClient, *fragments: str, **body: object) -> str:
    response = post(client, **body)
    assert response.status_code == 422, response.text
    detail = str(response.json()["detail"])
    for fragment in fragments:
        assert fragment in detail, detail
    assert client.get("/api/v1/jobs").json()["total"] == 0
    return detail


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN"])
def test_non_finite_numbers_are_refused(client: TestClient, value: str) -> None:
    raw = (
        '{"model": "builtin:smollm2-135m", "corpus": "builtin:python-docs", "preset": "quick", '
        f'"config": {{"lens": {{"fidelity_tolerance": {value}}}}}}}'
    )
    response = client.post(
        "/api/v1/jobs",
        content=raw,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "lens.fidelity_tolerance must be a finite number" in detail
    assert "leave it out" in detail
    # A finite tolerance is fine, and is stored as standard JSON.
    ok = post(client, config={"lens": {"fidelity_tolerance": 0.05}})
    assert ok.status_code == 201
    assert math.isclose(ok.json()["config"]["lens"]["fidelity_tolerance"], 0.05)


def test_absurd_batch_size_is_refused(client: TestClient) -> None:
    refused(client, "batch_size", "limit of 4096", "leave it out", config={"batch_size": 1e23})
    refused(client, "limit of 4096", config={"batch_size": 4097})
    assert post(client, config={"batch_size": 64}).status_code == 201


def test_unknown_synthetic_source_lists_the_known_ones(client: TestClient) -> None:
    detail = refused(client, "unknown synthetic source 'unknown'", corpus="synthetic:unknown")
    assert all(f"synthetic:{name}" in detail for name in source_names())


def test_upload_too_short_for_the_windows_is_refused(client: TestClient) -> None:
    tiny = client.post("/api/v1/corpora", files={"file": ("a.txt", b"hello")}, headers=AUTH)
    assert tiny.status_code == 201
    source = tiny.json()["source"]
    detail = refused(client, "at most 5 tokens", "Upload more text", corpus=source)
    assert "windows of 128 tokens" in detail  # the quick preset's window
    # Enough bytes for three windows of the asked length: accepted.
    text = ("word " * 100).encode()
    enough = client.post("/api/v1/corpora", files={"file": ("b.txt", text)}, headers=AUTH)
    accepted = post(client, corpus=enough.json()["source"], config={"window_len": 32})
    assert accepted.status_code == 201, accepted.text


def test_queue_no_worker_serves_is_refused(make_client: Callable[..., TestClient]) -> None:
    client = make_client(embedded_worker=False, worker_queues=["cpu"])
    # Nothing known about workers yet (none advertised, no classes): accepted, may come up.
    assert post(client, queue="gpu").status_code == 201
    db = client.app.state.db  # type: ignore[attr-defined]
    with db.session() as session:
        fields = {"hostname": "h", "device": "cpu", "memory_bytes": 1 << 34, "queues": ["cpu"]}
        fields["pid"] = 1
        repo_workers.register(session, "w1", **fields)
    detail = str(post(client, queue="gpu-80g", force=True).json()["detail"])
    assert "no worker serves queue 'gpu-80g'" in detail and "queues with workers: cpu" in detail
    assert post(client, queue="cpu", force=True).status_code == 201


def test_dedupe_considers_the_queue(make_client: Callable[..., TestClient]) -> None:
    client = make_client(device_classes=["cpu=cpu:64GiB", "big=cpu:128GiB"])
    first = post(client, queue="cpu").json()
    again = post(client, queue="cpu").json()
    other = post(client, queue="big").json()
    assert again["id"] == first["id"]  # the same job, reused
    assert other["id"] != first["id"] and other["queue"] == "big"  # another queue: another job


def test_synthetic_corpus_with_a_text_model_is_refused(
    client: TestClient, model_root: Path
) -> None:
    symbols = get_source("lookahead").vocab_size
    expected = (f"vocabulary of {symbols} symbols", "49152 tokens", "builtin:python-docs")
    detail = refused(client, *expected, corpus="synthetic:lookahead")
    assert "lab" in detail
    # A model over the source's own symbols is accepted; one over another vocabulary is not.
    own = build_tiny_model("llama", model_root / "own", vocab_size=symbols)
    assert post(client, model=f"local:{own}", corpus="synthetic:lookahead").status_code == 201
    other = build_tiny_model("llama", model_root / "other", vocab_size=symbols + 3)
    response = post(client, model=f"local:{other}", corpus="synthetic:lookahead")
    assert response.status_code == 422 and f"has {symbols + 3} tokens" in response.json()["detail"]


def test_corpora_budget_is_a_507_with_what_to_do(make_client: Callable[..., TestClient]) -> None:
    client = make_client(corpora_budget_bytes=1000, max_upload_bytes=800)
    first = client.post("/api/v1/corpora", files={"file": ("a.txt", b"a" * 600)}, headers=AUTH)
    assert first.status_code == 201
    second = client.post("/api/v1/corpora", files={"file": ("b.txt", b"b" * 401)}, headers=AUTH)
    assert second.status_code == 507, second.text
    detail = second.json()["detail"]
    assert "600 of 1,000 bytes are used" in detail and "has 401" in detail
    assert "upload:<id>" in detail and "MARKOVLENS_CORPORA_BUDGET_BYTES" in detail
    # Exactly filling the budget is fine; a single upload over the per-upload limit is a 413.
    fits = client.post("/api/v1/corpora", files={"file": ("c.txt", b"c" * 400)}, headers=AUTH)
    assert fits.status_code == 201
    big = client.post("/api/v1/corpora", files={"file": ("d.txt", b"d" * 801)}, headers=AUTH)
    assert big.status_code == 413
    names = [c["name"] for c in client.get("/api/v1/corpora").json()]
    assert names == ["a.txt", "c.txt"]

"""The bad-input matrix of docs/security.md, through the real API (TestClient).

Every row: what a user sends, the status it gets, and a fragment of the readable ``detail``.
Nothing bad may be recorded: after each refusal the job list is still empty.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.models.fake_hub import fake_hub
from tests.security.conftest import AUTH

GOOD = {"model": "builtin:smollm2-135m", "corpus": "builtin:python-docs", "preset": "quick"}


def submit(client: TestClient, **changes: object) -> tuple[int, str]:
    response = client.post("/api/v1/jobs", json={**GOOD, **changes}, headers=AUTH)
    detail = response.json().get("detail", "")
    return response.status_code, detail if isinstance(detail, str) else repr(detail)


def assert_refused(client: TestClient, status: int, fragment: str, **changes: object) -> None:
    code, detail = submit(client, **changes)
    assert code == status, detail
    assert fragment in detail, detail
    assert client.get("/api/v1/jobs").json()["total"] == 0  # nothing recorded


@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        ("ftp:weights", "unknown"),  # unknown scheme
        ("", "at least 1 character"),
        ("hf:", "hf:"),
        ("builtin:gpt-5", "builtin"),  # unknown builtin name
    ],
    ids=["unknown-scheme", "empty", "hf-no-repo", "unknown-builtin"],
)
def test_unknown_model_sources(client: TestClient, model: str, fragment: str) -> None:
    code, detail = submit(client, model=model)
    assert code == 422, detail
    assert fragment.lower() in detail.lower(), detail


def test_unknown_local_model(client: TestClient, model_root: Path) -> None:
    assert_refused(client, 422, "does not exist", model=f"local:{model_root}/nope")


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("pickle-only", "pickle weights are refused"),
        ("remote-code", "needs remote code"),
        ("bert", "not a causal language model"),
        ("escape-link", "outside the allowed model roots"),
        ("linked-weights", "outside the allowed model roots"),
    ],
)
def test_unsafe_local_models_refused_at_submission(
    client: TestClient, bad_models: dict[str, Path], name: str, fragment: str
) -> None:
    assert_refused(client, 422, fragment, model=f"local:{bad_models[name]}")


def test_remote_code_never_runs(client: TestClient, bad_models: dict[str, Path]) -> None:
    # modeling_evil.py raises SystemExit on import: reaching the assert proves it was not run.
    assert_refused(
        client, 422, "remote code", model=f"random-init:local:{bad_models['remote-code']}"
    )


def test_path_traversal_refused(client: TestClient, model_root: Path, bad_models) -> None:
    assert_refused(client, 422, "outside the allowed", model=f"local:{model_root}/../outside")
    assert_refused(client, 422, "outside the allowed", model="local:/etc")
    evil = model_root.parent / "evil.gguf"
    evil.write_bytes(b"GGUF")
    assert_refused(client, 422, "outside the allowed", model=f"gguf:{model_root}/../evil.gguf")
    assert_refused(client, 422, "must name a .gguf file", model="gguf:/etc/passwd")


def test_api_without_roots_leaves_local_checks_to_the_worker(
    make_client: Callable[..., TestClient], bad_models
) -> None:
    """Scale-out: the files may exist on the workers only; the worker applies the same checks
    (tests/models/test_safety.py) and fails the job with the reason."""
    client = make_client(model_roots=[])
    code, detail = submit(client, model=f"local:{bad_models['pickle-only']}")
    assert code == 201, detail


def test_good_local_model_is_accepted(client: TestClient, bad_models: dict[str, Path]) -> None:
    code, detail = submit(client, model=f"local:{bad_models['good']}")
    assert code == 201, detail


def test_gated_and_private_hub_models(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import transformers.utils.hub
    from huggingface_hub import constants
    from markovlens.models import hub

    with fake_hub() as url:
        monkeypatch.setattr(constants, "ENDPOINT", url)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
        monkeypatch.setattr(transformers.utils.hub, "_hf_api", None)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(hub, "HUB_TIMEOUT_S", 2.0)
        assert_refused(client, 422, "gated", model="hf:gated/repo")
        assert_refused(client, 422, "not found, or private", model="hf:nobody/private-model")
        assert_refused(client, 422, "pickle weights are refused", model="hf:pickle/only")


def test_unreachable_hub_does_not_block_submission(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline API, maybe-online worker: the worker decides (and fails the job readably)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, detail = submit(client, model="hf:some/model")
    assert code == 201, detail


def test_oversized_model_refused_with_estimate(
    make_client: Callable[..., TestClient], bad_models: dict[str, Path]
) -> None:
    client = make_client(device_classes=["cpu=cpu:1MiB"])
    code, detail = submit(client, model=f"local:{bad_models['good']}")
    assert code == 422, detail
    assert "no worker class can hold this model" in detail and "parameters" in detail


@pytest.mark.parametrize(
    ("changes", "status", "fragment"),
    [
        ({"config": {"window_len": 4}}, 422, "window_len"),
        ({"config": {"max_tokens": 10**12}}, 422, "max_tokens"),
        ({"config": {"bootstrap_samples": -1}}, 422, "bootstrap_samples"),
        ({"config": {"train_fraction": 1.5}}, 422, "train_fraction"),
        ({"config": {"spectral": {"train_fraction": 0.5}}}, 422, "one split setting"),
        ({"config": {"surplus": {"val_fraction": 0.1}}}, 422, "surplus.val_fraction"),
        ({"config": {"no_such_knob": 1}}, 422, "no_such_knob"),
        ({"config": {"window_len": "many"}}, 422, "window_len"),
        ({"config": "not an object"}, 422, "config"),
        ({"preset": "turbo"}, 422, "preset"),
        ({"queue": "../../etc"}, 422, "queue"),
        ({"revision": "main"}, 422, "revision only applies to hf"),
        ({"force": "yes please"}, 422, "force"),
        ({"unexpected": 1}, 422, "unexpected"),
        ({"corpus": "ftp:corpus"}, 422, "corpus"),
        ({"corpus": "upload:999999"}, 422, "999999"),
    ],
    ids=[
        "window-too-short",
        "max-tokens-over-limit",
        "negative-bootstrap",
        "fraction-over-1",
        "suite-split-spectral",
        "suite-split-surplus",
        "unknown-config-key",
        "wrong-type",
        "config-not-object",
        "unknown-preset",
        "queue-traversal",
        "revision-on-builtin",
        "force-not-bool",
        "unknown-field",
        "unknown-corpus-scheme",
        "unknown-upload",
    ],
)
def test_bad_submissions(client: TestClient, changes: dict, status: int, fragment: str) -> None:
    assert_refused(client, status, fragment, **changes)


def test_malformed_and_oversized_json(client: TestClient) -> None:
    bad = client.post(
        "/api/v1/jobs", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert bad.status_code == 422 and "JSON" in bad.json()["detail"]
    huge = {**GOOD, "config": {"padding": "x" * (2 << 20)}}
    too_big = client.post("/api/v1/jobs", json=huge, headers=AUTH)
    assert too_big.status_code == 413 and "larger than" in too_big.json()["detail"]
    assert client.get("/api/v1/jobs").json()["total"] == 0


def upload(client: TestClient, content: bytes, name: str = "notes.txt") -> tuple[int, str]:
    response = client.post("/api/v1/corpora", files={"file": (name, content)}, headers=AUTH)
    return response.status_code, str(response.json().get("detail", ""))


@pytest.mark.parametrize(
    ("content", "status", "fragment"),
    [
        (b"", 422, "empty"),
        (b"   \n\t ", 422, "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 415, "not UTF-8"),
        (b"caf\xe9 latin-1 text", 415, "not UTF-8"),
        (b"text\x00with NUL", 415, "binary"),
    ],
    ids=["empty", "whitespace", "binary-png", "latin-1", "nul-bytes"],
)
def test_bad_uploads(client: TestClient, content: bytes, status: int, fragment: str) -> None:
    code, detail = upload(client, content)
    assert (code, fragment in detail) == (status, True), detail
    assert client.get("/api/v1/corpora").json() == [] or all(
        not c["source"].startswith("upload:") for c in client.get("/api/v1/corpora").json()
    )


def test_oversized_upload(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_upload_bytes=1000)
    code, detail = upload(client, b"a" * 1001)
    assert code == 413 and "1,000" in detail
    # Far over the limit: refused from Content-Length before the multipart parser runs.
    code, detail = upload(client, b"a" * 200_000)
    assert code == 413 and "limit of 1,000 bytes" in detail
    assert upload(client, b"a" * 1000)[0] == 201  # the limit itself is fine


def test_chunked_oversized_upload_is_cut_off(make_client: Callable[..., TestClient]) -> None:
    """No Content-Length (chunked): the body is counted as it arrives."""
    client = make_client(max_upload_bytes=1000)
    boundary = "xyz"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        f"\r\n{'a' * 200_000}\r\n--{boundary}--\r\n"
    ).encode()

    def chunks():
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    response = client.post(
        "/api/v1/corpora",
        content=chunks(),
        headers={**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413, response.text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/v1/jobs/999999", 404),
        ("get", "/api/v1/jobs/999999/events", 404),
        ("post", "/api/v1/jobs/999999/cancel", 404),
        ("get", "/api/v1/models/999999", 404),
        ("get", "/api/v1/results/999999", 404),
        ("get", "/api/v1/results/999999/csv", 404),
        ("get", "/api/v1/results/999999/arrays", 404),
        ("get", "/api/v1/jobs/abc", 422),
        ("get", "/api/v1/jobs/-1", 404),
        ("get", "/api/v1/jobs/99999999999999999999999", 422),
        ("get", "/api/v1/compare?result_ids=1;DROP", 422),
        ("get", "/api/v1/jobs?limit=100000", 422),
        ("get", "/api/v1/jobs?status=sleeping", 422),
    ],
)
def test_unknown_ids_and_bad_queries(client: TestClient, method: str, path: str, status: int):
    response = getattr(client, method)(path, headers=AUTH)
    assert response.status_code == status, response.text
    assert isinstance(response.json()["detail"], str) and response.json()["detail"]


def test_cancel_of_a_finished_job_is_409(client: TestClient) -> None:
    job = client.post("/api/v1/jobs", json=GOOD, headers=AUTH).json()
    first = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=AUTH)
    assert first.status_code == 200 and first.json()["status"] == "cancelled"
    again = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=AUTH)
    assert again.status_code == 409 and "already finished" in again.json()["detail"]


def test_duplicate_submission_returns_the_existing_job(client: TestClient) -> None:
    first = client.post("/api/v1/jobs", json=GOOD, headers=AUTH).json()
    again = client.post("/api/v1/jobs", json=GOOD, headers=AUTH).json()
    assert again["id"] == first["id"]
    forced = client.post("/api/v1/jobs", json={**GOOD, "force": True}, headers=AUTH).json()
    assert forced["id"] != first["id"]
    assert client.get("/api/v1/jobs").json()["total"] == 2


SCRIPT = "<script>alert(document.cookie)</script>"
IMG = '"><img src=x onerror=alert(1)>'
SQL = "'; DROP TABLE jobs; --"
SQL_OR = "1' OR '1'='1"
PAYLOADS = [SCRIPT, IMG, SQL, SQL_OR, "${7*7}{{7*7}}", "\u202eevil", "../../../../etc/passwd"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_script_and_sql_payloads_in_every_string_field(client: TestClient, payload: str) -> None:
    """Refused readably or stored verbatim as data; never executed, never a 5xx."""
    for field in ("model", "corpus", "revision", "queue"):
        code, detail = submit(client, **{field: payload})
        assert code == 422, (field, detail)
    for value in ({payload: 1}, {"seed": payload}, {"layers": [payload]}):
        code, detail = submit(client, config=value)
        assert code == 422, (value, detail)
    for prefix in ("local:", "gguf:", "random-init:local:", "hf:"):
        code, detail = submit(client, model=prefix + payload)
        assert code == 422, (prefix, detail)
    for prefix in ("upload:", "synthetic:", "hf-dataset:"):
        code, detail = submit(client, corpus=prefix + payload)
        assert code == 422, (prefix, detail)
    for query in ({"status": payload}, {"queue": payload}, {"model_id": payload}):
        assert client.get("/api/v1/jobs", params=query).status_code in (200, 422)
    assert client.get("/api/v1/compare", params={"result_ids": payload}).status_code == 422
    assert client.get(f"/api/v1/results/1/arrays/{payload}").status_code in (404, 422)
    assert client.get("/api/v1/jobs").json()["total"] == 0

    # Free-text fields are data: stored and returned byte for byte, as JSON strings.
    response = client.post(
        "/api/v1/corpora",
        files={"file": (payload, b"plain text " * 50)},  # enough for the quick windows
        data={"name": payload},
        headers=AUTH,
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == payload.strip()
    assert response.headers["content-type"].startswith("application/json")
    corpus = response.json()["source"]
    job = client.post("/api/v1/jobs", json={**GOOD, "corpus": corpus}, headers=AUTH)
    assert job.status_code == 201
    # The tables are intact after the SQL payloads.
    assert client.get("/api/v1/jobs").json()["total"] == 1
    assert [c["name"] for c in client.get("/api/v1/corpora").json() if c["source"] == corpus] == [
        payload.strip()
    ]

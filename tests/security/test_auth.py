"""Bearer tokens: writes need one once configured, reads optionally; constant-time, never logged."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from markovlens.api import auth
from markovlens.settings import Settings

from tests.security.conftest import AUTH, TOKEN

JOB = {"model": "builtin:smollm2-135m", "corpus": "builtin:python-docs", "preset": "quick"}

WRITES = [
    ("post", "/api/v1/jobs", {"json": JOB}),
    ("post", "/api/v1/jobs/1/cancel", {}),
    ("post", "/api/v1/corpora", {"files": {"file": ("a.txt", b"some text")}}),
]
READS = [
    "/api/v1/models",
    "/api/v1/jobs",
    "/api/v1/jobs/1",
    "/api/v1/corpora",
    "/api/v1/results/1",
    "/api/v1/compare?result_ids=1",
]


@pytest.mark.parametrize(("method", "path", "kwargs"), WRITES)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer "},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
    ],
    ids=["missing", "wrong", "basic-scheme", "empty", "longer", "prefix"],
)
def test_writes_refuse_missing_or_wrong_tokens(
    client: TestClient, method: str, path: str, kwargs: dict, headers: dict
) -> None:
    response = getattr(client, method)(path, headers=headers, **kwargs)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "token" in response.json()["detail"]
    assert TOKEN not in response.text
    assert client.get("/api/v1/jobs").json()["total"] == 0


def test_writes_pass_with_the_token(client: TestClient) -> None:
    job = client.post("/api/v1/jobs", json=JOB, headers=AUTH)
    assert job.status_code == 201
    assert client.post(f"/api/v1/jobs/{job.json()['id']}/cancel", headers=AUTH).status_code == 200
    files = {"file": ("a.txt", b"some text")}
    assert client.post("/api/v1/corpora", files=files, headers=AUTH).status_code == 201
    # Any of several configured tokens works (token rotation).
    assert auth.token_matches(TOKEN, ["old", TOKEN, "new"])


@pytest.mark.parametrize("path", READS)
def test_reads_open_by_default(client: TestClient, path: str) -> None:
    assert client.get(path).status_code in (200, 404)


@pytest.mark.parametrize("path", [*READS, "/api/v1/jobs/1/events", "/api/v1/results/1/csv"])
def test_reads_protected_when_asked(make_client: Callable[..., TestClient], path: str) -> None:
    client = make_client(protect_reads=True)
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get(path, headers=AUTH).status_code in (200, 404)
    # Liveness probes and the static UI stay reachable.
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/").status_code == 200


def test_no_tokens_means_open_writes(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_tokens=[])
    assert client.post("/api/v1/jobs", json=JOB).status_code == 201


def test_token_is_never_logged(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client.post("/api/v1/jobs", json=JOB, headers=AUTH)
    client.post("/api/v1/jobs", json=JOB, headers={"Authorization": f"Bearer {TOKEN}zz"})
    client.post("/api/v1/jobs", json={**JOB, "model": "ftp:x"}, headers=AUTH)
    assert caplog.records  # the service did log something
    assert not any(TOKEN in record.getMessage() for record in caplog.records)


def test_token_comparison_hashes_before_comparing(monkeypatch: pytest.MonkeyPatch) -> None:
    """compare_digest sees fixed-length digests for every configured token (no early exit)."""
    seen: list[tuple[int, int]] = []
    real = auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert auth.token_matches("a", ["a", "bbbbbbbbbbbbbbbb", "c"])
    assert not auth.token_matches("x" * 1000, ["a"])
    assert seen == [(32, 32)] * 4


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("lab-box.example", False),
    ],
)
def test_bind_refusal(host: str, loopback: bool, tmp_path) -> None:
    open_settings = Settings(data_dir=tmp_path, api_tokens=[])
    refusal = auth.bind_refusal(host, open_settings, insecure=False)
    assert (refusal is None) == loopback
    if refusal:
        assert "MARKOVLENS_API_TOKENS" in refusal and "--insecure" in refusal
    assert auth.bind_refusal(host, open_settings, insecure=True) is None
    with_tokens = Settings(data_dir=tmp_path, api_tokens=["t"])
    assert auth.bind_refusal(host, with_tokens, insecure=False) is None


def test_serve_refuses_public_bind_without_tokens(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    import uvicorn
    from markovlens.cli import app
    from markovlens.settings import get_settings
    from typer.testing import CliRunner

    started: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: started.append(kw["host"]))
    monkeypatch.setenv("MARKOVLENS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MARKOVLENS_API_TOKENS", raising=False)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        refused = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--no-worker"])
        assert refused.exit_code == 2 and "refusing to bind 0.0.0.0" in refused.output
        assert started == []
        ok = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--no-worker", "--insecure"])
        assert ok.exit_code == 0, ok.output
        assert "insecure" in ok.output.lower()
        monkeypatch.setenv("MARKOVLENS_API_TOKENS", "abc")
        get_settings.cache_clear()
        assert runner.invoke(app, ["serve", "--host", "0.0.0.0", "--no-worker"]).exit_code == 0
        assert started == ["0.0.0.0", "0.0.0.0"]
    finally:
        get_settings.cache_clear()

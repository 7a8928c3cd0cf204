"""Other web pages cannot drive a local server: Host, Origin, Sec-Fetch-Site, simple writes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from markovlens.api import create_app
from markovlens.api.addresses import client_address
from markovlens.api.origin import host_allowed, split_host

from tests.conftest import UI_HEADERS, build_settings

JOB = {"model": "builtin:smollm2-135m", "corpus": "builtin:python-docs", "preset": "quick"}


@pytest.fixture
def open_client(make_client: Callable[..., TestClient]) -> TestClient:
    """The default server: no tokens (loopback), where cross-site requests mattered."""
    client = make_client(api_tokens=[])
    client.headers.pop("X-Markovlens-Client")  # act like a page that does not know it
    return client


def test_simple_writes_are_refused(open_client: TestClient) -> None:
    """What a form post or a no-cors fetch can send: no JSON type, no custom header."""
    form = open_client.post("/api/v1/corpora", files={"file": ("a.txt", b"some text")})
    assert form.status_code == 403
    assert "X-Markovlens-Client" in form.json()["detail"]
    plain = open_client.post("/api/v1/jobs", content=b'{"model": "x"}')
    assert plain.status_code == 403
    job = open_client.post("/api/v1/jobs", json=JOB)  # JSON is not a simple request
    assert job.status_code == 201
    cancel = open_client.post(f"/api/v1/jobs/{job.json()['id']}/cancel")
    assert cancel.status_code == 403
    assert open_client.get(f"/api/v1/jobs/{job.json()['id']}").json()["status"] == "queued"
    assert [c["source"] for c in open_client.get("/api/v1/corpora").json()] == [JOB["corpus"]]
    marked = {"X-Markovlens-Client": "web"}
    assert open_client.post(f"/api/v1/jobs/{job.json()['id']}/cancel", headers=marked).is_success


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://attacker.example"},
        {"Origin": "http://testserver:8001"},  # same host, another port: another origin
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
    ids=["other-origin", "other-port", "null-origin", "cross-site", "same-site"],
)
def test_cross_site_writes_are_refused(open_client: TestClient, headers: dict[str, str]) -> None:
    marked = {**headers, "X-Markovlens-Client": "web"}
    response = open_client.post("/api/v1/jobs", json=JOB, headers=marked)
    assert response.status_code == 403, response.text
    assert "refused" in response.json()["detail"]
    assert open_client.get("/api/v1/jobs").json()["total"] == 0


def test_own_origin_writes_pass(open_client: TestClient) -> None:
    own = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    assert open_client.post("/api/v1/jobs", json=JOB, headers=own).status_code == 201
    # Behind a TLS proxy that passes "Host: name": the https origin of that name is ours.
    proxied = {"Origin": "https://testserver", "X-Markovlens-Client": "web"}
    response = open_client.post("/api/v1/jobs", json={**JOB, "force": True}, headers=proxied)
    assert response.status_code == 201
    # With a port in Host, the origin's port must match it.
    ported = {**proxied, "Host": "testserver:8000"}
    response = open_client.post("/api/v1/jobs", json={**JOB, "force": True}, headers=ported)
    assert response.status_code == 403


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8000", "rebind.test."])
def test_unknown_host_names_are_refused(open_client: TestClient, host: str) -> None:
    """DNS rebinding: the attacker's name resolves to us, so Host carries that name."""
    for method, path in [("get", "/api/v1/jobs"), ("get", "/"), ("post", "/api/v1/jobs")]:
        kwargs = {"json": JOB} if method == "post" else {}
        response = getattr(open_client, method)(path, headers={"Host": host}, **kwargs)
        assert response.status_code == 400, (path, response.text)
        assert "MARKOVLENS_ALLOWED_HOSTS" in response.json()["detail"]
    # Liveness probes may use any name.
    assert open_client.get("/api/v1/health", headers={"Host": host}).status_code == 200


def test_host_rules() -> None:
    assert host_allowed("127.0.0.1:8000", [])
    assert host_allowed("[::1]:8000", [])
    assert host_allowed("localhost:8000", [])
    assert host_allowed("10.1.2.3", [])  # an IP literal cannot be rebound
    assert not host_allowed("evil.example", [])
    assert host_allowed("lab.example:8000", ["lab.example"])
    assert host_allowed("anything", ["*"])
    assert not host_allowed("", [])
    assert split_host("[::1]:80") == ("::1", "80")
    assert split_host("Example.ORG") == ("example.org", None)


def test_forwarded_for_needs_a_trusted_proxy() -> None:
    # Off by default: the header is ignored, whoever sends it.
    assert client_address("127.0.0.1", ["1.2.3.4"], []) == "127.0.0.1"
    # From a trusted proxy: the last hop that is not a proxy; the client's own claims
    # further left are never believed.
    assert client_address("10.0.0.5", ["6.6.6.6, 1.2.3.4"], ["10.0.0.0/8"]) == "1.2.3.4"
    assert client_address("10.0.0.5", ["1.2.3.4, 10.0.0.9"], ["10.0.0.0/8"]) == "1.2.3.4"
    # From an untrusted peer: the peer.
    assert client_address("8.8.8.8", ["1.2.3.4"], ["10.0.0.0/8"]) == "8.8.8.8"
    assert client_address("10.0.0.5", ["not-an-ip"], ["10.0.0.0/8"]) == "10.0.0.5"


@pytest.mark.parametrize("trusted", [True, False], ids=["proxy-trusted", "default"])
def test_lockout_follows_forwarded_addresses_only_from_trusted_proxies(
    tmp_path: Path, frontend_dir: Path, trusted: bool
) -> None:
    """Behind a configured proxy each client has its own invalid-token budget; by default
    a forged header changes nothing (the peer's budget is spent)."""
    settings = build_settings(
        tmp_path,
        api_tokens=["right"],
        auth_failure_burst=2,
        auth_failures_per_minute=1,
        trusted_proxies=["10.0.0.0/8"] if trusted else [],
    )
    app = create_app(settings, frontend_dir=frontend_dir)
    with TestClient(app, client=("10.0.0.5", 4000), headers=UI_HEADERS) as client:
        bad = {"Authorization": "Bearer wrong", "X-Forwarded-For": "1.1.1.1"}
        codes = [client.post("/api/v1/jobs", json=JOB, headers=bad).status_code for _ in range(3)]
        assert codes == [401, 401, 429]
        other = {**bad, "X-Forwarded-For": "2.2.2.2"}
        assert client.post("/api/v1/jobs", json=JOB, headers=other).status_code == (
            401 if trusted else 429
        )


def test_serve_options() -> None:
    """``serve``: bounded header time, no implicit proxy trust, our log handler, its own name."""
    from markovlens.cli import served_settings, uvicorn_options
    from markovlens.settings import Settings

    settings = Settings(header_timeout_seconds=3)
    options = uvicorn_options(settings, "127.0.0.1", 8000)
    assert options["proxy_headers"] is False and options["log_config"] is None
    assert options["http"].header_timeout == 3
    assert served_settings(settings, "lab.example").allowed_hosts == ["lab.example"]
    assert served_settings(settings, "0.0.0.0").allowed_hosts == []
    assert served_settings(settings, "127.0.0.1").allowed_hosts == ["127.0.0.1"]

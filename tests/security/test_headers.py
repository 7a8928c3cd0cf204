"""Browser safety headers on every response: API, errors, static files, the frontend."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from markovlens.api.headers import CONTENT_SECURITY_POLICY

from tests.security.conftest import AUTH

PATHS = [
    "/",
    "/index.html",
    "/static/plotly.min.js",
    "/api/v1/health",
    "/api/v1/jobs",
    "/api/v1/jobs/999",  # 404
    "/api/v1/jobs/abc",  # 422
    "/openapi.json",
    "/no/such/file.js",
]


@pytest.mark.parametrize("path", PATHS)
def test_security_headers_everywhere(client: TestClient, path: str) -> None:
    response = client.get(path)
    csp = response.headers["content-security-policy"]
    assert csp == CONTENT_SECURITY_POLICY
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_headers_on_401_and_413(client: TestClient) -> None:
    denied = client.post("/api/v1/jobs", json={})
    assert denied.status_code == 401
    assert denied.headers["x-content-type-options"] == "nosniff"
    big = client.post("/api/v1/jobs", content=b"x" * (2 << 20), headers=AUTH)
    assert big.status_code == 413 and "content-security-policy" in big.headers
    # Without a token the body is never looked at: the token is checked first.
    assert client.post("/api/v1/jobs", content=b"x" * (2 << 20)).status_code == 401


def test_docs_page_gets_its_own_policy(client: TestClient) -> None:
    """Swagger UI needs its CDN and an inline bootstrap script; still no framing."""
    response = client.get("/docs")
    assert response.status_code == 200
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_event_stream_still_streams_with_headers(client: TestClient) -> None:
    from tests.security.conftest import AUTH

    job = client.post(
        "/api/v1/jobs",
        json={"model": "builtin:smollm2-135m", "corpus": "builtin:python-docs", "preset": "quick"},
        headers=AUTH,
    ).json()
    client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=AUTH)
    with client.stream("GET", f"/api/v1/jobs/{job['id']}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-content-type-options"] == "nosniff"
        text = "".join(response.iter_text())
    assert "event: end" in text and '"cancelled"' in text


def test_json_errors_are_json_not_html(client: TestClient) -> None:
    """A payload echoed in an error is inside JSON (application/json), never HTML."""
    response = client.get("/api/v1/compare", params={"result_ids": "<script>alert(1)</script>"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/json")

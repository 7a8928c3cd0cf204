"""``/metrics`` names queues and worker hosts: it gets its own token under PROTECT_READS."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.security.conftest import AUTH

SCRAPER = {"Authorization": "Bearer scrape-only"}


def test_metrics_open_by_default(make_client: Callable[..., TestClient]) -> None:
    assert make_client().get("/metrics").status_code == 200


def test_metrics_protected_with_reads(make_client: Callable[..., TestClient]) -> None:
    client = make_client(protect_reads=True, metrics_token="scrape-only")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    scraped = client.get("/metrics", headers=SCRAPER)
    assert scraped.status_code == 200 and "markovlens_jobs" in scraped.text
    assert client.get("/metrics", headers=AUTH).status_code == 200  # an API token reads all
    # The scraper's token is no API credential.
    assert client.get("/api/v1/jobs", headers=SCRAPER).status_code == 401
    job = {"model": "builtin:smollm2-135m", "corpus": "builtin:python-docs"}
    assert client.post("/api/v1/jobs", json=job, headers=SCRAPER).status_code == 401


def test_metrics_token_alone_protects_metrics(make_client: Callable[..., TestClient]) -> None:
    client = make_client(metrics_token="scrape-only")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=SCRAPER).status_code == 200
    assert client.get("/api/v1/jobs").status_code == 200  # reads stay open without PROTECT_READS


def test_protect_reads_without_metrics_token_needs_an_api_token(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(protect_reads=True)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=AUTH).status_code == 200

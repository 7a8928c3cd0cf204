"""API v1 without a worker: health, validation, uploads, listing, cancel, 404s, static files."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from markovlens.api.static import default_frontend_dir, plotly_js_path

MODEL = "builtin:smollm2-135m"
CORPUS = "builtin:python-docs"


def submit(client: TestClient, **body: object) -> dict:
    payload = {"model": MODEL, "corpus": CORPUS, "preset": "quick", **body}
    response = client.post("/api/v1/jobs", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


def test_health_names_database_and_queue(db_client: TestClient) -> None:
    body = db_client.get("/api/v1/health").json()
    assert body["status"] == "ok"
    assert body["queue"] == "sqlite"
    url = str(db_client.app.state.db.engine.url)  # type: ignore[attr-defined]
    assert body["database"] == ("postgresql" if url.startswith("postgresql") else "sqlite")


def test_submit_get_list_cancel_roundtrip(db_client: TestClient) -> None:
    job = submit(db_client)
    assert job["status"] == "queued"
    assert job["model_source"] == MODEL and job["corpus_source"] == CORPUS
    assert job["config"]["window_len"] == 128  # the quick preset, validated and stored
    assert db_client.get(f"/api/v1/jobs/{job['id']}").json()["id"] == job["id"]
    models = db_client.get("/api/v1/models").json()
    assert [m["source"] for m in models] == [MODEL]
    assert models[0]["latest"] == []
    cancelled = db_client.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    again = db_client.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 409
    assert "already finished" in again.json()["detail"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": "ftp:nope"}, "unknown scheme 'ftp'"),
        ({"model": "builtin:gpt-9"}, "unknown builtin model"),
        ({"corpus": "s3:bucket"}, "invalid corpus source"),
        ({"corpus": "upload:999"}, "no uploaded corpus with id 999"),
        ({"preset": "huge"}, "preset"),
        ({"config": {"window_len": 2}}, "window_len"),
        ({"config": {"no_such_knob": 1}}, "no_such_knob"),
        ({"queue": "bad queue!"}, "queue"),
    ],
)
def test_submit_rejects_bad_input_readably(make_client: object, body: dict, fragment: str) -> None:
    client = make_client()  # type: ignore[operator]
    payload = {"model": MODEL, "corpus": CORPUS, "preset": "quick", **body}
    response = client.post("/api/v1/jobs", json=payload)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and fragment in detail
    assert client.get("/api/v1/jobs").json()["total"] == 0  # nothing was recorded


def test_equal_submission_is_reused_unless_forced(make_client: object) -> None:
    client = make_client()  # type: ignore[operator]
    first = submit(client)
    assert first["reused"] is False
    # The equal job comes back, said to be reused (200, not 201 Created).
    again = client.post("/api/v1/jobs", json={"model": MODEL, "corpus": CORPUS, "preset": "quick"})
    assert again.status_code == 200 and again.json()["reused"] is True
    assert again.json()["id"] == first["id"]
    forced = submit(client, force=True)
    assert forced["id"] != first["id"] and forced["reused"] is False


def test_job_list_filters_and_pagination(db_client: TestClient) -> None:
    ids = [submit(db_client, config={"seed": seed})["id"] for seed in range(5)]
    other = submit(db_client, model="random-init:builtin:smollm2-135m")
    db_client.post(f"/api/v1/jobs/{ids[0]}/cancel")

    everything = db_client.get("/api/v1/jobs").json()
    assert everything["total"] == 6
    assert [j["id"] for j in everything["items"]] == sorted([*ids, other["id"]], reverse=True)

    page = db_client.get("/api/v1/jobs", params={"limit": 2, "offset": 2}).json()
    assert page["total"] == 6
    assert [j["id"] for j in page["items"]] == [j["id"] for j in everything["items"][2:4]]

    cancelled = db_client.get("/api/v1/jobs", params={"status": "cancelled"}).json()
    assert (cancelled["total"], cancelled["items"][0]["id"]) == (1, ids[0])
    by_model = db_client.get("/api/v1/jobs", params={"model_id": other["model_id"]}).json()
    assert [j["id"] for j in by_model["items"]] == [other["id"]]

    bad = db_client.get("/api/v1/jobs", params={"status": "sleeping"})
    assert bad.status_code == 422 and "status" in bad.json()["detail"]
    assert db_client.get("/api/v1/jobs", params={"limit": 0}).status_code == 422


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/jobs/9999",
        "/api/v1/jobs/9999/events",
        "/api/v1/models/9999",
        "/api/v1/results/9999",
        "/api/v1/results/9999/csv",
        "/api/v1/results/9999/arrays",
        "/api/v1/results/9999/arrays/nll",
        "/api/v1/compare?result_ids=9999",
    ],
)
def test_unknown_ids_are_404_with_detail(make_client: object, path: str) -> None:
    response = make_client().get(path)  # type: ignore[operator]
    assert response.status_code == 404
    assert "9999" in response.json()["detail"]


def test_cancel_unknown_job_is_404(make_client: object) -> None:
    response = make_client().post("/api/v1/jobs/9999/cancel")  # type: ignore[operator]
    assert response.status_code == 404


def test_compare_rejects_malformed_ids(make_client: object) -> None:
    response = make_client().get("/api/v1/compare?result_ids=1,x")  # type: ignore[operator]
    assert response.status_code == 422
    assert "comma-separated integers" in response.json()["detail"]


def test_upload_ok_then_listed_and_submittable(db_client: TestClient) -> None:
    text = "Entropy measures uncertainty. " * 40
    response = db_client.post(
        "/api/v1/corpora",
        files={"file": ("notes.txt", text.encode(), "text/plain")},
        data={"name": "my notes"},
    )
    assert response.status_code == 201, response.text
    corpus = response.json()
    assert corpus["source"] == f"upload:{corpus['id']}"
    assert corpus["name"] == "my notes"
    assert corpus["num_bytes"] == len(text.encode())
    listed = db_client.get("/api/v1/corpora").json()
    assert corpus["source"] in [c["source"] for c in listed]
    job = submit(db_client, corpus=corpus["source"])
    assert job["corpus_id"] == corpus["id"]


def test_upload_name_defaults_to_filename(make_client: object) -> None:
    client = make_client()  # type: ignore[operator]
    files = {"file": ("essay.txt", b"some prose here", "text/plain")}
    assert client.post("/api/v1/corpora", files=files).json()["name"] == "essay.txt"


@pytest.mark.parametrize(
    ("content", "status", "fragment"),
    [
        (b"", 422, "empty"),
        (b"   \n\t ", 422, "empty"),
        (b"caf\xe9 latin-1 text", 415, "not UTF-8"),
        (b"\x00\x01binary", 415, "binary"),
        (b"x" * 101, 413, "larger than the limit"),
    ],
)
def test_upload_rejections(make_client: object, content: bytes, status: int, fragment: str) -> None:
    client = make_client(max_upload_bytes=100)  # type: ignore[operator]
    response = client.post("/api/v1/corpora", files={"file": ("a.txt", content, "text/plain")})
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]
    assert client.get("/api/v1/corpora").json() == [] or all(
        not c["source"].startswith("upload:") for c in client.get("/api/v1/corpora").json()
    )


def test_upload_at_the_limit_is_accepted(make_client: object) -> None:
    client = make_client(max_upload_bytes=100)  # type: ignore[operator]
    response = client.post("/api/v1/corpora", files={"file": ("a.txt", b"y" * 100, "text/plain")})
    assert response.status_code == 201


def test_write_endpoints_need_a_token_when_configured(make_client: object) -> None:
    client = make_client(api_tokens=["s3cret"])  # type: ignore[operator]
    body = {"model": MODEL, "corpus": CORPUS, "preset": "quick"}
    denied = client.post("/api/v1/jobs", json=body)
    assert denied.status_code == 401 and "bearer token" in denied.json()["detail"]
    wrong = client.post("/api/v1/jobs", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    ok = client.post("/api/v1/jobs", json=body, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 201
    assert client.get("/api/v1/jobs").status_code == 200  # reads stay open
    upload = client.post("/api/v1/corpora", files={"file": ("a.txt", b"text", "text/plain")})
    assert upload.status_code == 401
    assert client.post(f"/api/v1/jobs/{ok.json()['id']}/cancel").status_code == 401


def test_frontend_index_and_plotly_are_served(make_client: object) -> None:
    client = make_client()  # type: ignore[operator]
    index = client.get("/")
    assert index.status_code == 200
    assert "markovlens test" in index.text
    plotly = client.get("/static/plotly.min.js")
    assert plotly.status_code == 200
    assert "javascript" in plotly.headers["content-type"]
    assert len(plotly.content) == plotly_js_path().stat().st_size > 1_000_000
    assert client.get("/api/v1/health").status_code == 200  # "/" does not shadow the API
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "markovlens"


def test_default_frontend_dir_is_the_repository_frontend() -> None:
    assert default_frontend_dir().name == "frontend"
    assert (default_frontend_dir().parent / "pyproject.toml").is_file()

"""One CSV format, made in one place: the per-result CSV and the compare CSV carry the same rows.

Results are stored directly (no analysis run): the export only reads the stored document.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from markovlens.schema.csvexport import iter_numbers, result_csv, results_csv
from markovlens.store import repo_corpora, repo_models, repo_results
from markovlens.store.tables import Job, JobStatus

DOC_A: dict[str, Any] = {
    "schema_version": 1,
    "provenance": {"model": {"revision": "0123456789abcdef0123456789abcdef01234567"}},
    "entropy": {"summary": {"mean_nll": {"estimate": 2.5, "low": 2.4, "high": 2.6}}},
    "lens": {"layers": [{"layer": 0, "mean_nll": 9.0}, {"layer": 1, "mean_nll": 3.0}]},
    "surplus": {
        "detected": {"2": False},
        "surplus": {"2": {"estimate": 0.0, "low": -0.1, "high": 0.1}},
    },
    "note": "strings and booleans are not numbers",
}
DOC_B: dict[str, Any] = {"schema_version": 1, "entropy": {"summary": {"mean_nll": 4.0}}}


def store(client: TestClient, source: str, payload: dict[str, Any]) -> int:
    """A succeeded job with ``payload`` as its result; returns the result id."""
    with client.app.state.db.session() as s:  # type: ignore[attr-defined]
        model = repo_models.get_or_create_model(s, source)
        corpus = repo_corpora.get_or_create_corpus(s, "builtin:python-docs")
        job = Job(
            model_id=model.id,
            corpus_id=corpus.id,
            model_source=source,
            corpus_source=corpus.source,
            preset="quick",
            config={"preset": "quick"},
            dedupe_key=source,
            queue="cpu",
            status=JobStatus.SUCCEEDED,
        )
        s.add(job)
        s.flush()
        row = repo_results.add_result(s, job, payload, None)
        s.commit()
        return int(row.id)


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_result_csv_paths_are_dotted_and_only_numbers(db_client: TestClient) -> None:
    rid = store(db_client, "local:/a", DOC_A)
    response = db_client.get(f"/api/v1/results/{rid}/csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    table = rows(response.text)
    assert table[0] == ["path", "value"]
    paths = [p for p, _ in table[1:]]
    # List items by index with a dot (never "layers[0]"); no strings or booleans.
    assert "lens.layers.0.mean_nll" in paths and "lens.layers.1.layer" in paths
    assert not any("[" in p for p in paths)
    assert "note" not in paths and "surplus.detected.2" not in paths
    assert len(table) - 1 == len(list(iter_numbers(DOC_A)))


def test_compare_csv_is_the_per_result_rows_with_the_result_id(db_client: TestClient) -> None:
    a = store(db_client, "local:/a", DOC_A)
    b = store(db_client, "local:/b", DOC_B)
    response = db_client.get(f"/api/v1/compare/csv?result_ids={b},{a}")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    table = rows(response.text)
    assert table[0] == ["result_id", "path", "value"]
    for rid in (a, b):
        own = rows(db_client.get(f"/api/v1/results/{rid}/csv").text)[1:]
        assert [r[1:] for r in table[1:] if r[0] == str(rid)] == own
    assert table[1][0] == str(b)  # the order asked for
    assert db_client.get("/api/v1/compare/csv?result_ids=x").status_code == 422
    assert db_client.get(f"/api/v1/compare/csv?result_ids={a},999999").status_code == 404


def test_results_csv_matches_result_csv_row_for_row() -> None:
    doc = {**DOC_A, "bad": [math.inf, -math.inf]}  # PostgreSQL JSON cannot store these
    single = rows(result_csv(doc))[1:]
    joined = rows(results_csv([(7, doc)]))[1:]
    assert [r[1:] for r in joined] == single and {r[0] for r in joined} == {"7"}
    assert dict(single)["bad.0"] == "inf" and dict(single)["bad.1"] == "-inf"


def test_models_list_carries_the_resolved_revision(db_client: TestClient) -> None:
    store(db_client, "local:/a", DOC_A)
    store(db_client, "local:/b", DOC_B)
    latest = {m["source"]: m["latest"][0] for m in db_client.get("/api/v1/models").json()}
    assert latest["local:/a"]["resolved_revision"] == DOC_A["provenance"]["model"]["revision"]
    assert latest["local:/b"]["resolved_revision"] is None


def test_compare_csv_needs_the_token_when_reads_are_protected(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(api_tokens=["t0ken-for-reads"], protect_reads=True)
    path = "/api/v1/compare/csv?result_ids=1"
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer t0ken-for-reads"}).status_code == 404

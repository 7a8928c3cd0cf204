"""Repositories on SQLite and Postgres: rows, uniqueness, arrays, dashboard query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from markovlens.store import Database, repo_corpora, repo_jobs, repo_models, repo_results
from markovlens.store.arrays import pack_arrays, unpack_arrays
from markovlens.store.tables import Job, JobStatus, Model, Result
from sqlalchemy.exc import IntegrityError


def _job(model_id: int, corpus_id: int, **kw: object) -> Job:
    values: dict[str, object] = {
        "model_id": model_id,
        "corpus_id": corpus_id,
        "model_source": "local:/m",
        "corpus_source": "builtin:python-docs",
        "preset": "quick",
        "config": {"preset": "quick", "max_tokens": 4096},
        "dedupe_key": "k",
        "queue": "cpu",
        "status": JobStatus.QUEUED,
    }
    values.update(kw)
    return Job(**values)


def test_model_get_or_create_is_unique_per_source_and_revision(db: Database) -> None:
    with db.session() as s:
        a = repo_models.get_or_create_model(s, "hf:org/m", None)
        b = repo_models.get_or_create_model(s, "hf:org/m", None)
        c = repo_models.get_or_create_model(s, "hf:org/m", "v2")
        s.commit()
        assert a.id == b.id != c.id
        assert a.revision == ""
        repo_models.fill_model_meta(
            s, a.id, {"num_layers": 2, "training_step": 300, "run_name": "r", "bogus": 1}
        )
        s.commit()
    with db.session() as s:
        row = repo_models.get_model(s, a.id)
        assert row is not None and row.num_layers == 2 and row.training_step == 300
        assert row.created_at.tzinfo is not None


def test_unique_constraint_on_models_is_enforced(db: Database) -> None:
    with db.session() as s:
        repo_models.get_or_create_model(s, "local:/x", None)
        s.commit()
        s.add(Model(source="local:/x", revision=""))
        with pytest.raises(IntegrityError):
            s.commit()


def test_upload_corpus_gets_its_id_in_the_source(db: Database) -> None:
    with db.session() as s:
        first = repo_corpora.create_upload(s, "notes", "héllo")
        second = repo_corpora.create_upload(s, None, "other")
        s.commit()
        assert first.source == f"upload:{first.id}"
        assert second.name == second.source == f"upload:{second.id}"
        assert first.num_bytes == len("héllo".encode())
        named = repo_corpora.get_or_create_corpus(s, "builtin:python-docs")
        again = repo_corpora.get_or_create_corpus(s, "builtin:python-docs")
        assert named.id == again.id


def test_arrays_round_trip_exactly() -> None:
    arrays = {"nll": np.arange(12, dtype=np.float32).reshape(3, 4), "hit": np.array([True])}
    back = unpack_arrays(pack_arrays(arrays))
    assert set(back) == {"nll", "hit"}
    np.testing.assert_array_equal(back["nll"], arrays["nll"])
    assert back["nll"].dtype == np.float32
    assert unpack_arrays(None) == {}


def test_datetimes_compare_correctly_in_sql(db: Database) -> None:
    """Lease expiry relies on SQL comparison of stored UTC datetimes."""
    with db.session() as s:
        model = repo_models.get_or_create_model(s, "local:/m")
        corpus = repo_corpora.get_or_create_corpus(s, "builtin:python-docs")
        now = datetime.now(UTC)
        s.add(_job(model.id, corpus.id, lease_expires_at=now - timedelta(seconds=1)))
        s.add(_job(model.id, corpus.id, lease_expires_at=now + timedelta(hours=1)))
        s.commit()
        expired = s.query(Job).filter(Job.lease_expires_at < now).all()
        assert len(expired) == 1


def test_list_jobs_filters_and_pages(db: Database) -> None:
    with db.session() as s:
        m1 = repo_models.get_or_create_model(s, "local:/a")
        m2 = repo_models.get_or_create_model(s, "local:/b")
        corpus = repo_corpora.get_or_create_corpus(s, "builtin:python-docs")
        for i in range(5):
            s.add(_job(m1.id if i < 3 else m2.id, corpus.id, status="queued" if i else "failed"))
        s.commit()
        jobs, total = repo_jobs.list_jobs(s, model_id=m1.id, limit=2)
        assert total == 3 and len(jobs) == 2 and jobs[0].id > jobs[1].id
        _, failed = repo_jobs.list_jobs(s, status="failed")
        assert failed == 1


def test_latest_results_per_corpus_and_preset(db: Database) -> None:
    with db.session() as s:
        model = repo_models.get_or_create_model(s, "local:/m")
        c1 = repo_corpora.get_or_create_corpus(s, "builtin:python-docs")
        c2 = repo_corpora.create_upload(s, "u", "text")
        rows: list[Result] = []
        for corpus, preset in [(c1, "quick"), (c1, "quick"), (c1, "standard"), (c2, "quick")]:
            job = _job(
                model.id,
                corpus.id,
                corpus_source=corpus.source,
                preset=preset,
                status=JobStatus.SUCCEEDED,
            )
            s.add(job)
            s.flush()
            rows.append(repo_results.add_result(s, job, {"schema_version": 1}, b"x"))
        s.commit()
        latest = repo_results.latest_results_for_model(s, model.id)
        assert sorted(r.id for r, _ in latest) == [rows[1].id, rows[2].id, rows[3].id]
        assert repo_jobs.result_ids_for_jobs(s, [rows[0].job_id]) == {rows[0].job_id: rows[0].id}

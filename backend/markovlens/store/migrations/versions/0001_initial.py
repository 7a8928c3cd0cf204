"""Initial schema: models, corpora, jobs, results.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from markovlens.store.tables import JSONType, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("revision", sa.String(255), nullable=False, server_default=""),
        sa.Column("content_hash", sa.String(128)),
        sa.Column("architecture", sa.String(255)),
        sa.Column("num_layers", sa.Integer()),
        sa.Column("hidden_size", sa.Integer()),
        sa.Column("vocab_size", sa.Integer()),
        sa.Column("num_parameters", sa.BigInteger()),
        sa.Column("run_name", sa.String(255)),
        sa.Column("training_step", sa.BigInteger()),
        sa.Column("label", sa.String(255)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_models"),
        sa.UniqueConstraint("source", "revision", name="uq_models_source_revision"),
    )
    op.create_table(
        "corpora",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("name", sa.String(255)),
        sa.Column("text", sa.Text()),
        sa.Column("num_bytes", sa.BigInteger()),
        sa.Column("sha256", sa.String(64)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_corpora"),
        sa.UniqueConstraint("source", name="uq_corpora_source"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("corpus_id", sa.Integer(), nullable=False),
        sa.Column("model_source", sa.String(1024), nullable=False),
        sa.Column("model_revision", sa.String(255)),
        sa.Column("corpus_source", sa.String(1024), nullable=False),
        sa.Column("preset", sa.String(32), nullable=False),
        sa.Column("config", JSONType, nullable=False),
        sa.Column("dedupe_key", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("stage", sa.String(255)),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(255)),
        sa.Column("lease_expires_at", UTCDateTime()),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime()),
        sa.Column("finished_at", UTCDateTime()),
        sa.Column("heartbeat_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_jobs_model_id_models"),
        sa.ForeignKeyConstraint(["corpus_id"], ["corpora.id"], name="fk_jobs_corpus_id_corpora"),
    )
    for column in ("model_id", "corpus_id", "dedupe_key", "status", "lease_expires_at"):
        op.create_index(f"ix_jobs_{column}", "jobs", [column])
    op.create_table(
        "results",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("corpus_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("payload", JSONType, nullable=False),
        sa.Column("arrays", sa.LargeBinary()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_results"),
        sa.UniqueConstraint("job_id", name="uq_results_job_id"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_results_job_id_jobs"),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_results_model_id_models"),
        sa.ForeignKeyConstraint(["corpus_id"], ["corpora.id"], name="fk_results_corpus_id_corpora"),
    )
    op.create_index("ix_results_model_id", "results", ["model_id"])
    op.create_index("ix_results_corpus_id", "results", ["corpus_id"])


def downgrade() -> None:
    op.drop_table("results")
    op.drop_table("jobs")
    op.drop_table("corpora")
    op.drop_table("models")

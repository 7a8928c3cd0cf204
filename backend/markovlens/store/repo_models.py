"""Repository of the ``models`` table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from markovlens.store.tables import Model

# Fields the worker fills from the loaded model (ModelMeta plus the lab's markovlens.json).
FILLABLE_FIELDS = (
    "content_hash",
    "architecture",
    "num_layers",
    "hidden_size",
    "vocab_size",
    "num_parameters",
    "run_name",
    "training_step",
)


def get_model(session: Session, model_id: int) -> Model | None:
    return session.get(Model, model_id)


def find_model(session: Session, source: str, revision: str | None) -> Model | None:
    stmt = select(Model).where(Model.source == source, Model.revision == (revision or ""))
    return session.scalars(stmt).first()


def get_or_create_model(session: Session, source: str, revision: str | None = None) -> Model:
    """The row for (source, revision), created if new. Concurrent creators converge on one row."""
    existing = find_model(session, source, revision)
    if existing is not None:
        return existing
    row = Model(source=source, revision=revision or "")
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Another submitter inserted it between our SELECT and INSERT.
        existing = find_model(session, source, revision)
        if existing is None:
            raise
        return existing
    return row


def list_models(session: Session) -> list[Model]:
    return list(session.scalars(select(Model).order_by(Model.id)))


def fill_model_meta(session: Session, model_id: int, meta: dict[str, Any]) -> Model | None:
    """Record what loading the model revealed; keys outside FILLABLE_FIELDS are ignored."""
    row = session.get(Model, model_id)
    if row is None:
        return None
    for field in FILLABLE_FIELDS:
        value = meta.get(field)
        if value is not None:
            setattr(row, field, value)
    return row


def set_label(session: Session, model_id: int, label: str | None) -> Model | None:
    row = session.get(Model, model_id)
    if row is not None:
        row.label = label
    return row

"""Repository of the ``corpora`` table."""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from markovlens.store.tables import Corpus


def get_corpus(session: Session, corpus_id: int) -> Corpus | None:
    return session.get(Corpus, corpus_id)


def find_corpus(session: Session, source: str) -> Corpus | None:
    return session.scalars(select(Corpus).where(Corpus.source == source)).first()


def get_or_create_corpus(session: Session, source: str, name: str | None = None) -> Corpus:
    """The row for a named (non-upload) corpus source, created if new."""
    existing = find_corpus(session, source)
    if existing is not None:
        return existing
    row = Corpus(source=source, name=name or source)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = find_corpus(session, source)
        if existing is None:
            raise
        return existing
    return row


def create_upload(session: Session, name: str | None, text: str) -> Corpus:
    """Store uploaded text as a new corpus whose source is ``upload:<id>``."""
    data = text.encode("utf-8")
    # The source needs the id, which the INSERT assigns: insert a unique placeholder first.
    row = Corpus(
        source=f"upload-pending:{uuid.uuid4().hex}",
        name=name,
        text=text,
        num_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    session.add(row)
    session.flush()
    row.source = f"upload:{row.id}"
    if not row.name:
        row.name = row.source
    session.flush()
    return row


def upload_bytes(session: Session) -> int:
    """Bytes of uploaded text stored in total (what the corpora budget counts)."""
    total = session.scalar(
        select(func.coalesce(func.sum(Corpus.num_bytes), 0)).where(Corpus.text.is_not(None))
    )
    return int(total or 0)


def list_corpora(session: Session) -> list[Corpus]:
    return list(session.scalars(select(Corpus).order_by(Corpus.id)))

"""Corpus source check at submission (parsing is markovlens.corpora's; loading is the child's)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from markovlens.corpora import CorpusError, parse_corpus_source
from markovlens.jobs.errors import SubmitError
from markovlens.store import repo_corpora
from markovlens.store.tables import Corpus


def resolve_corpus_row(session: Session, source: str) -> Corpus:
    """Check ``source`` and return its ``corpora`` row (created for non-upload sources)."""
    try:
        parsed = parse_corpus_source(source)
    except CorpusError as exc:
        raise SubmitError(str(exc)) from exc
    if parsed.kind == "upload":
        row = repo_corpora.find_corpus(session, parsed.canonical) if parsed.ref.isdigit() else None
        if row is None:
            raise SubmitError(
                f"no uploaded corpus with id {parsed.ref}; upload it with POST /corpora"
            )
        return row
    return repo_corpora.get_or_create_corpus(session, parsed.canonical)

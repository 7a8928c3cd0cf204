"""Validation of corpus source strings at submission (the loading lives in markovlens.corpora)."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from markovlens.jobs.errors import SubmitError
from markovlens.store import repo_corpora
from markovlens.store.tables import Corpus

CORPUS_FORMS = (
    "builtin:python-docs, upload:<id>, synthetic:<name>, hf-dataset:<name>[/<config>]:<split>"
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_HF_DATASET = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*:[A-Za-z0-9][A-Za-z0-9._\[\]:%+-]*$"
)


def _invalid(source: str, why: str) -> SubmitError:
    return SubmitError(f"invalid corpus source {source!r}: {why}. Valid forms: {CORPUS_FORMS}")


def resolve_corpus_row(session: Session, source: str) -> Corpus:
    """Check ``source`` and return its ``corpora`` row (created for non-upload sources)."""
    text = source.strip()
    scheme, sep, ref = text.partition(":")
    ref = ref.strip()
    if not sep or not ref:
        raise _invalid(source, "expected '<scheme>:<reference>'")
    if scheme == "upload":
        if not ref.isdigit():
            raise _invalid(source, "an upload is referenced by its numeric id")
        row = repo_corpora.find_corpus(session, f"upload:{int(ref)}")
        if row is None:
            raise SubmitError(f"no uploaded corpus with id {ref}; upload it with POST /corpora")
        return row
    if scheme in ("builtin", "synthetic"):
        if not _NAME.match(ref):
            raise _invalid(source, f"{ref!r} is not a {scheme} corpus name")
    elif scheme == "hf-dataset":
        if not _HF_DATASET.match(ref):
            raise _invalid(source, "expected hf-dataset:<name>[/<config>]:<split>")
    else:
        raise _invalid(source, f"unknown scheme {scheme!r}")
    return repo_corpora.get_or_create_corpus(session, f"{scheme}:{ref}")

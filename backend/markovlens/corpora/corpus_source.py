"""Parse corpus source strings into a typed ``CorpusSource``.

Valid forms: ``builtin:python-docs``, ``upload:<id>``, ``hf-dataset:<name>[/<config>]:<split>``,
``synthetic:<name>``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

from markovlens.corpora.errors import CorpusError

CorpusKind = Literal["builtin", "upload", "hf-dataset", "synthetic"]

BUILTIN_CORPORA: tuple[str, ...] = ("python-docs",)

VALID_FORMS = (
    "builtin:python-docs, upload:<id>, hf-dataset:<name>[/<config>]:<split>, synthetic:<name>"
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SPLIT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-\[\]:%+]*$")


class HFDatasetRef(BaseModel):
    """``hf-dataset:`` parts. ``candidates`` lists (path, config) readings of an ambiguous
    ``a/b`` (an ``org/name`` repo, or a legacy ``name/config``), tried in that order."""

    model_config = ConfigDict(frozen=True)

    parts: tuple[str, ...]
    split: str

    @property
    def candidates(self) -> list[tuple[str, str | None]]:
        if len(self.parts) == 1:
            return [(self.parts[0], None)]
        if len(self.parts) == 3:
            return [(f"{self.parts[0]}/{self.parts[1]}", self.parts[2])]
        return [(f"{self.parts[0]}/{self.parts[1]}", None), (self.parts[0], self.parts[1])]


class CorpusSource(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: CorpusKind
    ref: str
    hf: HFDatasetRef | None = None

    @property
    def canonical(self) -> str:
        return f"{self.kind}:{self.ref}"


def _error(source: str, why: str) -> CorpusError:
    return CorpusError(f"invalid corpus source {source!r}: {why}. Valid forms: {VALID_FORMS}")


def parse_corpus_source(source: str) -> CorpusSource:
    """Parse ``source``; raise ``CorpusError`` (a ``ValueError``) naming the valid forms."""
    text = source.strip()
    scheme, sep, ref = text.partition(":")
    ref = ref.strip()
    if not sep:
        raise _error(source, "no scheme (expected '<scheme>:<reference>')")
    if not ref:
        raise _error(source, f"empty reference after '{scheme}:'")
    if scheme == "builtin":
        if ref not in BUILTIN_CORPORA:
            raise _error(source, f"unknown builtin corpus {ref!r}")
        return CorpusSource(kind="builtin", ref=ref)
    if scheme == "upload":
        if not _NAME.match(ref):
            raise _error(source, f"{ref!r} is not an upload id")
        return CorpusSource(kind="upload", ref=ref)
    if scheme == "synthetic":
        if not _NAME.match(ref):
            raise _error(source, f"{ref!r} is not a synthetic source name")
        return CorpusSource(kind="synthetic", ref=ref)
    if scheme == "hf-dataset":
        name, colon, split = ref.partition(":")
        parts = tuple(name.split("/"))
        if not colon or not _SPLIT.match(split):
            raise _error(source, "hf-dataset needs a split: hf-dataset:<name>[/<config>]:<split>")
        if not 1 <= len(parts) <= 3 or not all(_NAME.match(p) for p in parts):
            raise _error(source, f"{name!r} is not a dataset name[/config]")
        return CorpusSource(kind="hf-dataset", ref=ref, hf=HFDatasetRef(parts=parts, split=split))
    raise _error(source, f"unknown scheme {scheme!r}")

"""Corpus sources (builtin, uploaded, HF datasets, synthetic) resolved to fixed token windows.

``resolve_corpus`` and ``CorpusWindows`` need torch and load on first use, so the API and the
CLI's HTTP commands can parse sources and catch ``CorpusError`` without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from markovlens.corpora.corpus_source import CorpusSource, parse_corpus_source
from markovlens.corpora.errors import CorpusError
from markovlens.corpora.text import python_docs_text

if TYPE_CHECKING:
    from markovlens.corpora.resolve import CorpusWindows, resolve_corpus

__all__ = [
    "CorpusError",
    "CorpusSource",
    "CorpusWindows",
    "parse_corpus_source",
    "python_docs_text",
    "resolve_corpus",
]

_LAZY = {"CorpusWindows", "resolve_corpus"}  # from markovlens.corpora.resolve (imports torch)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from markovlens.corpora import resolve

        return getattr(resolve, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

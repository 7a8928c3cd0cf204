"""Corpus sources (builtin, uploaded, HF datasets, synthetic) resolved to fixed token windows."""

from markovlens.corpora.errors import CorpusError
from markovlens.corpora.resolve import CorpusWindows, resolve_corpus
from markovlens.corpora.sources import CorpusSource, parse_corpus_source
from markovlens.corpora.text import python_docs_text

__all__ = [
    "CorpusError",
    "CorpusSource",
    "CorpusWindows",
    "parse_corpus_source",
    "python_docs_text",
    "resolve_corpus",
]

"""Parsing corpus source strings."""

from __future__ import annotations

import pytest
from markovlens.corpora import CorpusError, parse_corpus_source


@pytest.mark.parametrize(
    ("text", "kind", "ref"),
    [
        ("builtin:python-docs", "builtin", "python-docs"),
        ("upload:17", "upload", "17"),
        ("synthetic:lookahead", "synthetic", "lookahead"),
        (
            "hf-dataset:wikitext/wikitext-2-raw-v1:test",
            "hf-dataset",
            "wikitext/wikitext-2-raw-v1:test",
        ),
    ],
)
def test_valid(text: str, kind: str, ref: str):
    source = parse_corpus_source(text)
    assert (source.kind, source.ref, source.canonical) == (kind, ref, text)


def test_hf_dataset_readings():
    one = parse_corpus_source("hf-dataset:imdb:train").hf
    assert one is not None and one.split == "train" and one.candidates == [("imdb", None)]
    three = parse_corpus_source("hf-dataset:Salesforce/wikitext/wikitext-2-raw-v1:test").hf
    assert three is not None
    assert three.candidates == [("Salesforce/wikitext", "wikitext-2-raw-v1")]
    # "a/b" is either an org/name repo or a legacy name/config: both are tried, repo first.
    two = parse_corpus_source("hf-dataset:roneneldan/TinyStories:validation[:10%]").hf
    assert two is not None and two.split == "validation[:10%]"
    assert two.candidates == [("roneneldan/TinyStories", None), ("roneneldan", "TinyStories")]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("python-docs", "no scheme"),
        ("builtin:", "empty reference"),
        ("builtin:novels", "unknown builtin corpus 'novels'"),
        ("file:/etc/passwd", "unknown scheme 'file'"),
        ("upload:../3", "is not an upload id"),
        ("hf-dataset:imdb", "needs a split"),
        ("hf-dataset:a/b/c/d:train", "is not a dataset name"),
        ("synthetic:a b", "is not a synthetic source name"),
    ],
)
def test_invalid_lists_valid_forms(text: str, reason: str):
    with pytest.raises(CorpusError) as info:
        parse_corpus_source(text)
    assert reason in str(info.value)
    assert "builtin:python-docs, upload:<id>, hf-dataset:" in str(info.value)
    assert isinstance(info.value, ValueError)

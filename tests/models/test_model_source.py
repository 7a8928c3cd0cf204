"""Parsing model source strings."""

from __future__ import annotations

import pytest
from markovlens.models import ModelSourceError, parse_model_source


@pytest.mark.parametrize(
    ("text", "kind", "ref", "revision", "canonical"),
    [
        ("hf:gpt2", "hf", "gpt2", None, "hf:gpt2"),
        (
            "hf:HuggingFaceTB/SmolLM2-135M@main",
            "hf",
            "HuggingFaceTB/SmolLM2-135M",
            "main",
            "hf:HuggingFaceTB/SmolLM2-135M@main",
        ),
        ("local:/models/run-1", "local", "/models/run-1", None, "local:/models/run-1"),
        (
            "gguf:/models/x.Q4_1.gguf",
            "gguf",
            "/models/x.Q4_1.gguf",
            None,
            "gguf:/models/x.Q4_1.gguf",
        ),
        ("builtin:smollm2-135m", "builtin", "smollm2-135m", None, "builtin:smollm2-135m"),
        ("  builtin:smollm2-135m ", "builtin", "smollm2-135m", None, "builtin:smollm2-135m"),
    ],
)
def test_valid_sources(text: str, kind: str, ref: str, revision: str | None, canonical: str):
    source = parse_model_source(text)
    assert (source.kind, source.ref, source.revision) == (kind, ref, revision)
    assert source.canonical == canonical
    assert source.inner is None
    assert source.base is source


def test_random_init_wraps_any_source():
    source = parse_model_source("random-init:hf:org/name@abc")
    assert source.kind == "random-init"
    assert source.inner is not None
    assert (source.inner.kind, source.inner.ref, source.inner.revision) == ("hf", "org/name", "abc")
    assert source.base == source.inner
    assert source.canonical == "random-init:hf:org/name@abc"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("gpt2", "no scheme"),
        ("s3:bucket/model", "unknown scheme 's3'"),
        ("builtin:gpt-5", "unknown builtin model 'gpt-5'"),
        ("hf:", "empty reference"),
        ("hf:a/b/c", "not a Hub repository id"),
        ("hf:../etc", "not a Hub repository id"),
        ("hf:org/name@", "empty revision"),
        ("gguf:/models/weights.bin", "must name a .gguf file"),
        ("random-init:random-init:builtin:smollm2-135m", "cannot be nested"),
        ("random-init:nope:x", "unknown scheme 'nope'"),
    ],
)
def test_invalid_sources_list_valid_forms(text: str, reason: str):
    with pytest.raises(ModelSourceError) as info:
        parse_model_source(text)
    message = str(info.value)
    assert reason in message
    for form in (
        "hf:<repo>[@<revision>]",
        "local:<dir>",
        "gguf:<file>",
        "smollm2-135m",
        "random-init:",
    ):
        assert form in message
    assert isinstance(info.value, ValueError)  # the API maps ValueError to 4xx

"""``resolve_corpus``: a corpus source string in, fixed token windows + their hash out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from markovlens.analysis.exact import ExactReference
from markovlens.corpora.corpus_source import CorpusSource, parse_corpus_source
from markovlens.corpora.errors import CorpusError
from markovlens.corpora.hf_dataset import hf_dataset_text
from markovlens.corpora.text import python_docs_text, upload_text
from markovlens.corpora.windows import (
    bos_prefix,
    cut_windows,
    tokenize,
    tokenizer_identity,
    windows_hash,
)
from markovlens.schema.result import CorpusMeta

# Tokens read from a text source at most (Settings.max_corpus_tokens default): enough slots to
# sample windows across a large upload, bounded work for a 20 MB one.
DEFAULT_MAX_SOURCE_TOKENS = 2_000_000


@dataclass
class CorpusWindows:
    """Token windows ``[n, window_len]`` (int64), their metadata and, for synthetic sources,
    the exact reference. ``bos_token_id`` is set when every window starts with BOS; ``notes``
    say what a result's provenance should mention (e.g. fewer windows than asked for)."""

    windows: torch.Tensor
    meta: CorpusMeta
    reference: ExactReference | None = None
    bos_token_id: int | None = None
    notes: list[str] = field(default_factory=list)


def _synthetic(
    source: CorpusSource, *, window_len: int, max_tokens: int, seed: int
) -> CorpusWindows:
    try:
        from markovlens.lab.synthetic_sources import get_source
    except ImportError as exc:
        raise CorpusError(
            f"synthetic:{source.ref}: synthetic sources (markovlens.lab) are not available: {exc}"
        ) from exc
    try:
        lab_source = get_source(source.ref)
    except (KeyError, ValueError) as exc:
        raise CorpusError(f"unknown synthetic source {source.ref!r}: {exc}") from exc
    num_windows = max_tokens // window_len
    if num_windows < 1:
        raise CorpusError(
            f"max_tokens ({max_tokens}) is smaller than one window of {window_len} tokens"
        )
    windows, reference = lab_source.sample_windows(num_windows, window_len, seed)
    windows = torch.as_tensor(windows, dtype=torch.long).contiguous()
    if tuple(windows.shape) != (num_windows, window_len):
        raise CorpusError(
            f"synthetic:{source.ref} returned windows of shape {tuple(windows.shape)}, "
            f"expected {(num_windows, window_len)}"
        )
    identity = f"synthetic:{source.ref}|{int(lab_source.vocab_size)}"
    meta = CorpusMeta(
        source=source.canonical,
        hash=windows_hash(windows, identity),
        num_windows=num_windows,
        window_len=window_len,
        num_tokens=int(windows.numel()),
    )
    return CorpusWindows(windows=windows, meta=meta, reference=reference)


def _text_of(source: CorpusSource, upload: str | bytes | None, max_tokens: int) -> str:
    if source.kind == "builtin":
        return python_docs_text()
    if source.kind == "upload":
        return upload_text(upload, source.ref)
    if source.kind == "hf-dataset" and source.hf is not None:
        return hf_dataset_text(source.hf, max_tokens)
    raise CorpusError(f"cannot read text of {source.canonical}")


def resolve_corpus(
    source: str,
    tokenizer: Any,
    *,
    window_len: int,
    max_tokens: int,
    seed: int,
    upload_text: str | bytes | None = None,
    max_source_tokens: int = DEFAULT_MAX_SOURCE_TOKENS,
) -> CorpusWindows:
    """Resolve ``source`` to ``max_tokens // window_len`` windows of exactly ``window_len``.

    Synthetic sources ignore ``tokenizer`` (their ids are the source's symbols); every other
    source needs one. Raises ``CorpusError`` with a message meant for the user.
    """
    if window_len < 2:
        raise CorpusError(f"window_len must be at least 2, got {window_len}")
    if max_tokens < window_len:  # checked before any text is read or tokenised
        raise CorpusError(
            f"max_tokens ({max_tokens}) is smaller than one window of {window_len} tokens"
        )
    parsed = parse_corpus_source(source)
    if parsed.kind == "synthetic":
        return _synthetic(parsed, window_len=window_len, max_tokens=max_tokens, seed=seed)
    if tokenizer is None:
        raise CorpusError(
            f"{parsed.canonical} needs a tokenizer, and this model has none: "
            "use a synthetic: corpus for synthetic-vocabulary models"
        )
    text = _text_of(parsed, upload_text, max_tokens)
    prefix = bos_prefix(tokenizer)
    ids = tokenize(text, tokenizer, limit=max(max_source_tokens, max_tokens))
    windows = cut_windows(ids, prefix, window_len=window_len, max_tokens=max_tokens, seed=seed)
    meta = CorpusMeta(
        source=parsed.canonical,
        hash=windows_hash(windows, tokenizer_identity(tokenizer)),
        num_windows=int(windows.shape[0]),
        window_len=window_len,
        num_tokens=int(windows.numel()),
    )
    notes = []
    if windows.shape[0] < max_tokens // window_len:
        notes.append(
            f"{parsed.canonical} has {len(ids)} tokens: {windows.shape[0]} windows of "
            f"{window_len} instead of the {max_tokens // window_len} asked for"
        )
    if prefix:
        notes.append(f"every window starts with the tokenizer's BOS token (id {prefix[0]})")
    meta.notes = list(notes)  # carried into the result's provenance
    return CorpusWindows(
        windows=windows, meta=meta, bos_token_id=prefix[0] if prefix else None, notes=notes
    )

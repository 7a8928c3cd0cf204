"""Token windows: exact content, determinism, hash stability and sensitivity, errors."""

from __future__ import annotations

import shutil

import pytest
import torch
from markovlens.corpora import CorpusError, python_docs_text, resolve_corpus
from markovlens.corpora.windows import cut_windows, text_chunks, tokenize
from transformers import AutoTokenizer

# A slice of the docs keeps these tests fast; one test below reads the whole builtin corpus.
SAMPLE = python_docs_text()[:60_000]


def docs(tokenizer, **kwargs):
    args = {"window_len": 64, "max_tokens": 2048, "seed": 0} | kwargs
    return resolve_corpus("upload:sample", tokenizer, upload_text=SAMPLE, **args)


def test_python_docs_text_is_the_stdlib_topics():
    from pydoc_data.topics import topics

    text = python_docs_text()
    assert text == python_docs_text()
    assert text.startswith(topics[sorted(topics)[0]].strip())
    assert topics["assert"].strip() in text
    assert len(text) > 100_000


def test_windows_are_disjoint_slices_of_the_token_stream(tokenizer):
    corpus = resolve_corpus(
        "builtin:python-docs", tokenizer, window_len=64, max_tokens=2048, seed=0
    )
    stream = torch.tensor(tokenize(python_docs_text(), tokenizer, limit=10**7))
    slots = stream[: len(stream) // 64 * 64].view(-1, 64)
    assert corpus.windows.shape == (2048 // 64, 64)
    assert corpus.windows.dtype == torch.long
    # Every window is one of the aligned slots, each used once, in corpus order.
    index = {tuple(row.tolist()): i for i, row in enumerate(slots)}
    positions = [index[tuple(row.tolist())] for row in corpus.windows]
    assert positions == sorted(set(positions))
    assert positions[-1] > len(slots) // 2  # sampled across the corpus, not its first pages
    meta = corpus.meta
    assert (meta.source, meta.num_windows, meta.window_len, meta.num_tokens) == (
        "builtin:python-docs",
        32,
        64,
        2048,
    )
    assert corpus.reference is None and corpus.bos_token_id is None


def test_deterministic_and_hash_stable(tokenizer):
    first, again = docs(tokenizer), docs(tokenizer)
    assert torch.equal(first.windows, again.windows)
    assert first.meta.hash == again.meta.hash
    assert first.meta.hash.startswith("sha256:") and len(first.meta.hash) == 7 + 64


def test_hash_is_sensitive_to_window_len_seed_and_tokenizer(tokenizer, bos_tokenizer):
    base = docs(tokenizer)
    assert docs(tokenizer, window_len=32).meta.hash != base.meta.hash
    other_seed = docs(tokenizer, seed=1)
    assert not torch.equal(other_seed.windows, base.windows)
    assert other_seed.meta.hash != base.meta.hash
    assert docs(bos_tokenizer).meta.hash != base.meta.hash


def test_hash_does_not_depend_on_where_the_tokenizer_lives(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    first = docs(AutoTokenizer.from_pretrained(tmp_path / "a"))
    second = docs(AutoTokenizer.from_pretrained(tmp_path / "b"))
    assert first.meta.hash == second.meta.hash == docs(tokenizer).meta.hash


def test_bos_when_the_tokenizer_adds_one(bos_tokenizer, tokenizer):
    corpus = docs(bos_tokenizer)
    bos = bos_tokenizer.bos_token_id
    assert corpus.bos_token_id == bos == 1
    assert corpus.notes == ["every window starts with the tokenizer's BOS token (id 1)"]
    assert corpus.windows.shape == (32, 64)
    assert bool((corpus.windows[:, 0] == bos).all())
    assert not bool((corpus.windows[:, 1:] == bos).any())  # no special tokens in the text
    # The body is the same text tokens as without BOS (same vocabulary), 63 per window.
    stream = tokenize(SAMPLE, tokenizer, limit=10**7)
    body = tuple(corpus.windows[0, 1:].tolist())
    starts = [i for i in range(0, len(stream) - 63, 63) if tuple(stream[i : i + 63]) == body]
    assert len(starts) == 1


def test_all_windows_when_the_corpus_is_short(tokenizer):
    text = "alpha beta gamma delta. " * 40
    ids = tokenize(text, tokenizer, limit=10**6)
    corpus = resolve_corpus(
        "upload:9", tokenizer, window_len=16, max_tokens=10**6, seed=0, upload_text=text
    )
    assert corpus.windows.shape == (len(ids) // 16, 16)
    assert corpus.windows.flatten().tolist() == ids[: len(ids) // 16 * 16]
    assert corpus.notes == [
        f"upload:9 has {len(ids)} tokens: {len(ids) // 16} windows of 16 instead of the "
        f"{10**6 // 16} asked for"
    ]
    assert docs(tokenizer).notes == []


def test_too_small_corpus_names_the_counts(tokenizer):
    text = "hello world"
    count = len(tokenize(text, tokenizer, limit=100))
    with pytest.raises(CorpusError) as info:
        resolve_corpus(
            "upload:1", tokenizer, window_len=128, max_tokens=4096, seed=0, upload_text=text
        )
    assert f"the corpus has {count} tokens, fewer than one window of 128 tokens" in str(info.value)


def test_max_tokens_below_one_window(tokenizer):
    with pytest.raises(CorpusError, match=r"max_tokens \(100\) is smaller than one window of 128"):
        docs(tokenizer, window_len=128, max_tokens=100)
    with pytest.raises(CorpusError, match="window_len must be at least 2"):
        docs(tokenizer, window_len=1)


def test_cut_windows_picks_seeded_slots():
    ids = list(range(100))
    windows = cut_windows(ids, [], window_len=10, max_tokens=30, seed=3)
    assert windows.shape == (3, 10)
    for row in windows.tolist():
        assert row[0] % 10 == 0 and row == list(range(row[0], row[0] + 10))
    assert torch.equal(windows, cut_windows(ids, [], window_len=10, max_tokens=30, seed=3))
    with_bos = cut_windows(ids, [7], window_len=10, max_tokens=1000, seed=0)
    assert with_bos.shape == (11, 10)  # 100 // 9 slots of 9 text tokens
    assert with_bos[:, 0].tolist() == [7] * 11 and with_bos[0, 1:].tolist() == list(range(9))


def test_text_chunks_cut_after_newlines_and_cover_the_text():
    text = "".join(f"line {i}\n" for i in range(5000))
    chunks = list(text_chunks(text, size=1000))
    assert "".join(chunks) == text
    assert all(chunk.endswith("\n") for chunk in chunks)
    assert max(len(chunk) for chunk in chunks) <= 1000
    assert list(text_chunks("x" * 2500, size=1000)) == ["x" * 1000, "x" * 1000, "x" * 500]

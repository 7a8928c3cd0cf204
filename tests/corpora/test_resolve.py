"""resolve_corpus per source kind: uploads, synthetic (lab), hf-dataset offline/missing."""

from __future__ import annotations

import sys
import time
import types

import numpy as np
import pytest
import torch
from huggingface_hub import constants
from markovlens.analysis.exact import ExactReference
from markovlens.corpora import CorpusError, resolve_corpus
from markovlens.models import hub

from tests.models.fake_hub import closed_port_endpoint, fake_hub

TEXT = "Entropy measures uncertainty; calibration compares it with the loss. " * 30


class TestUpload:
    def test_str_and_utf8_bytes_give_the_same_windows(self, tokenizer):
        as_str = resolve_corpus(
            "upload:3", tokenizer, window_len=32, max_tokens=256, seed=0, upload_text=TEXT
        )
        as_bytes = resolve_corpus(
            "upload:3",
            tokenizer,
            window_len=32,
            max_tokens=256,
            seed=0,
            upload_text=TEXT.encode("utf-8"),
        )
        assert torch.equal(as_str.windows, as_bytes.windows)
        assert as_str.meta.hash == as_bytes.meta.hash
        assert as_str.meta.source == "upload:3"

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            (None, "upload:4: the uploaded text was not provided"),
            ("  \n\t ", "upload:4 is empty"),
            (b"caf\xe9 au lait", "upload:4 is not UTF-8 text (byte 3"),
        ],
    )
    def test_bad_uploads(self, tokenizer, text, reason):
        with pytest.raises(CorpusError) as info:
            resolve_corpus(
                "upload:4", tokenizer, window_len=8, max_tokens=64, seed=0, upload_text=text
            )
        assert reason in str(info.value)

    def test_text_corpus_needs_a_tokenizer(self):
        with pytest.raises(CorpusError, match="needs a tokenizer, and this model has none"):
            resolve_corpus("builtin:python-docs", None, window_len=8, max_tokens=64, seed=0)


class TestSynthetic:
    def test_real_lab_source(self):
        corpus = resolve_corpus("synthetic:markov", None, window_len=16, max_tokens=16 * 5, seed=2)
        again = resolve_corpus("synthetic:markov", None, window_len=16, max_tokens=16 * 5, seed=2)
        assert corpus.windows.shape == (5, 16) and corpus.windows.dtype == torch.long
        assert int(corpus.windows.max()) < 8  # the source's own symbols, no tokenizer
        assert torch.equal(corpus.windows, again.windows)
        assert corpus.meta.hash == again.meta.hash
        assert isinstance(corpus.reference, ExactReference)
        assert corpus.reference.true_probs.shape[:2] == (5, 15)
        other = resolve_corpus("synthetic:markov", None, window_len=8, max_tokens=80, seed=2)
        assert other.meta.hash != corpus.meta.hash

    def test_unknown_synthetic_source(self):
        with pytest.raises(CorpusError, match="unknown synthetic source 'nope'"):
            resolve_corpus("synthetic:nope", None, window_len=8, max_tokens=64, seed=0)

    def test_contract_with_a_stand_in_source(self, monkeypatch):
        calls: list[tuple[int, int, int]] = []

        class Source:
            vocab_size = 5

            def sample_windows(self, num_windows: int, window_len: int, seed: int):
                calls.append((num_windows, window_len, seed))
                windows = torch.arange(num_windows * window_len).view(num_windows, window_len) % 5
                ref = ExactReference("synthetic:fake", "fake", np.zeros((1, 1, 5)), 0.0)
                return windows, ref

        module = types.ModuleType("markovlens.lab.synthetic_sources")
        module.get_source = lambda name: Source()  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "markovlens.lab.synthetic_sources", module)
        corpus = resolve_corpus("synthetic:fake", None, window_len=10, max_tokens=35, seed=9)
        assert calls == [(3, 10, 9)]
        assert corpus.meta.num_windows == 3 and corpus.meta.num_tokens == 30
        assert corpus.reference is not None and corpus.reference.source == "synthetic:fake"


class TestHFDataset:
    def test_offline_flag(self, monkeypatch, tokenizer):
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        start = time.monotonic()
        with pytest.raises(CorpusError) as info:
            resolve_corpus("hf-dataset:imdb:train", tokenizer, window_len=8, max_tokens=64, seed=0)
        assert str(info.value).startswith(
            "hf-dataset: needs network access to the Hugging Face Hub"
        )
        assert "use builtin:python-docs or upload the text instead" in str(info.value)
        assert time.monotonic() - start < 1.0

    def test_unreachable_hub_is_fast(self, monkeypatch, tokenizer):
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "ENDPOINT", closed_port_endpoint())
        monkeypatch.setattr(hub, "HUB_TIMEOUT_S", 2.0)
        start = time.monotonic()
        with pytest.raises(CorpusError, match="hf-dataset: needs network access"):
            resolve_corpus("hf-dataset:imdb:train", tokenizer, window_len=8, max_tokens=64, seed=0)
        assert time.monotonic() - start < 5.0

    def test_reachable_hub_without_datasets_package(self, monkeypatch, tokenizer):
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets → ImportError
        with fake_hub() as url:
            monkeypatch.setattr(constants, "ENDPOINT", url)
            with pytest.raises(CorpusError, match="needs the 'datasets' package"):
                resolve_corpus(
                    "hf-dataset:some/dataset:train", tokenizer, window_len=8, max_tokens=64, seed=0
                )
            with pytest.raises(CorpusError, match="dataset not found on the Hub"):
                resolve_corpus(
                    "hf-dataset:missing:train", tokenizer, window_len=8, max_tokens=64, seed=0
                )
            with pytest.raises(CorpusError, match="gated"):
                resolve_corpus(
                    "hf-dataset:gated/repo:train", tokenizer, window_len=8, max_tokens=64, seed=0
                )

    @pytest.mark.parametrize(
        ("source", "path", "config"),
        [
            ("hf-dataset:some/dataset:train", "some/dataset", None),
            ("hf-dataset:legacy/cfg-1:train", "legacy", "cfg-1"),  # org/name missing → name/config
            ("hf-dataset:legacy:train", "legacy", None),
        ],
    )
    def test_online_path_with_a_stand_in_datasets(
        self, monkeypatch, tokenizer, source, path, config
    ):
        calls: list[tuple[str, str | None, str, bool]] = []
        rows = [
            {"id": i, "text": f"Row {i}: the quick brown fox jumps over the lazy dog."}
            for i in range(10_000)
        ]
        consumed: list[int] = []

        def load_dataset(name, cfg, *, split, streaming):
            calls.append((name, cfg, split, streaming))
            for row in rows:
                consumed.append(row["id"])
                yield row

        module = types.ModuleType("datasets")
        module.load_dataset = load_dataset  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "datasets", module)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        with fake_hub() as url:
            monkeypatch.setattr(constants, "ENDPOINT", url)
            corpus = resolve_corpus(source, tokenizer, window_len=32, max_tokens=320, seed=0)
        assert calls == [(path, config, "train", True)]
        assert corpus.windows.shape == (10, 32)
        assert corpus.meta.source == source
        assert "the quick brown fox" in tokenizer.decode(corpus.windows[0])
        # Streaming stops after ~8 characters per wanted token instead of reading the split.
        assert len(consumed) < 100

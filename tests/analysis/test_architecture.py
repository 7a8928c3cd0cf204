"""Architecture introspection finds the blocks, final norm, head and embedding of each family."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from markovlens.analysis.architecture import introspect
from transformers import AutoModelForCausalLM


def _load(path: Path) -> torch.nn.Module:
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()


@pytest.mark.parametrize(
    ("arch", "family", "norm_kind", "eps", "offset", "tied", "softcap"),
    [
        ("llama", "decoder-only (model.layers)", "rmsnorm", 1e-6, 0.0, False, None),
        ("gpt2", "gpt2", "layernorm", 1e-5, 0.0, True, None),
        ("gpt_neox", "gpt_neox", "layernorm", 1e-5, 0.0, False, None),
        ("gemma2", "decoder-only (model.layers)", "rmsnorm", 1e-6, 1.0, True, 30.0),
    ],
)
def test_introspection_of_saved_tiny_models(
    tiny_model_dirs: dict[str, Path],
    arch: str,
    family: str,
    norm_kind: str,
    eps: float,
    offset: float,
    tied: bool,
    softcap: float | None,
) -> None:
    model = _load(tiny_model_dirs[arch])
    found = introspect(model)
    info = found.describe()
    assert found.family == family
    assert found.num_layers == 2
    assert info["final_norm"]["kind"] == norm_kind
    assert info["final_norm"]["eps"] == pytest.approx(eps)
    assert info["final_norm"]["weight_offset"] == offset
    assert info["tied_embeddings"] is tied
    assert found.head.final_softcap == softcap
    assert found.head.unembed.shape == (384, 32)
    assert found.embedding_matrix().shape == (384, 32)


def test_gemma_embedding_matrix_includes_the_sqrt_d_scale(tiny_model_dirs: dict[str, Path]) -> None:
    model = _load(tiny_model_dirs["gemma2"])
    found = introspect(model)
    ids = torch.arange(10)
    # What the first block sees is embed_tokens(ids) = W[ids]·√32.
    assert torch.allclose(found.embedding_matrix()[ids], model.model.embed_tokens(ids), atol=1e-6)
    assert found.describe()["embedding_scale"] == pytest.approx(32**0.5)


def test_opt_with_projection_and_logit_scaling_families() -> None:
    from transformers import CohereConfig, GraniteConfig, OPTConfig

    opt = AutoModelForCausalLM.from_config(
        OPTConfig(vocab_size=100, hidden_size=32, word_embed_proj_dim=16, num_hidden_layers=2,
                  ffn_dim=64, num_attention_heads=4, max_position_embeddings=64)
    )  # fmt: skip
    found = introspect(opt)
    assert found.family == "opt" and found.num_layers == 2
    assert isinstance(found.head.norm, torch.nn.Sequential)  # final LayerNorm then project_out
    assert found.head.unembed.shape == (100, 16)

    common = {
        "vocab_size": 100,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
    }
    cohere = introspect(AutoModelForCausalLM.from_config(CohereConfig(logit_scale=0.25, **common)))
    assert cohere.head.logit_scale == pytest.approx(0.25)
    granite = introspect(
        AutoModelForCausalLM.from_config(GraniteConfig(logits_scaling=8.0, **common))
    )
    assert granite.head.logit_scale == pytest.approx(1 / 8)


def test_head_copy_is_detached_and_leaves_the_model_alone(tiny_model_dirs: dict[str, Path]) -> None:
    model = _load(tiny_model_dirs["gpt2"])
    head = introspect(model).head
    copy = head.to("cpu", torch.float64)
    assert copy.unembed.dtype == torch.float64 and head.unembed.dtype == torch.float32
    assert copy.norm is not head.norm
    assert all(not p.requires_grad for p in copy.norm.parameters())
    same = head.to("cpu", torch.float32)
    assert same.unembed.data_ptr() == head.unembed.data_ptr()  # no copy of a big matrix

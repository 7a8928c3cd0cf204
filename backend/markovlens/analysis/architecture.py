"""Architecture introspection: where a causal LM keeps its blocks, final norm, head and embedding.

The per-layer lens and the probes apply the model's *own* final norm and unembedding to any
residual-stream state, so they must be found exactly (epsilon, Gemma's ``1 + w`` offset, tied or
untied unembedding, bias, logit scaling, final soft-capping). Known families are looked up by
attribute path; anything else falls back to a generic search, and the lens fidelity check
(lens at the last layer == the model's logits) catches a wrong guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from markovlens.analysis.head import HeadSpec, describe_norm


class ArchitectureError(ValueError):
    """The model's blocks / norm / head could not be identified."""


@dataclass
class ModelArchitecture:
    """What the analysis needs to know about one causal LM."""

    family: str
    blocks: nn.ModuleList
    head: HeadSpec
    embedding: nn.Module
    notes: list[str] = field(default_factory=list)

    @property
    def num_layers(self) -> int:
        return len(self.blocks)

    def embedding_matrix(self) -> torch.Tensor:
        """The input embedding as the blocks see it, [V, d] (Gemma's √d scale included)."""
        weight = getattr(self.embedding, "weight", None)
        if not isinstance(weight, torch.Tensor):
            raise ArchitectureError("input embedding has no weight matrix")
        scale = _embed_scale(self.embedding)
        return weight if scale == 1.0 else weight * scale

    def describe(self) -> dict[str, Any]:
        """JSON-able summary (stored with the lens section)."""
        return {
            "family": self.family,
            "num_layers": self.num_layers,
            "final_norm": describe_norm(self.head.norm),
            "tied_embeddings": self.tied,
            "unembedding_bias": self.head.bias is not None,
            "logit_scale": self.head.logit_scale,
            "final_softcap": self.head.final_softcap,
            "embedding_scale": _embed_scale(self.embedding),
            "notes": list(self.notes),
        }

    @property
    def tied(self) -> bool:
        weight = getattr(self.embedding, "weight", None)
        return isinstance(weight, torch.Tensor) and (
            weight.data_ptr() == self.head.unembed.data_ptr()
        )


# family -> (blocks path, final-norm path, extra head module after the norm, embedding path)
_KNOWN: dict[str, tuple[str, str, str | None, str]] = {
    "decoder-only (model.layers)": ("model.layers", "model.norm", None, "model.embed_tokens"),
    "gpt2": ("transformer.h", "transformer.ln_f", None, "transformer.wte"),
    "gpt_neox": ("gpt_neox.layers", "gpt_neox.final_layer_norm", None, "gpt_neox.embed_in"),
    "opt": (
        "model.decoder.layers",
        "model.decoder.final_layer_norm",
        "model.decoder.project_out",
        "model.decoder.embed_tokens",
    ),
}
# Model types that use the Llama layout (model.layers / model.norm / lm_head).
_LLAMA_LIKE = {
    "llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "phi3", "gemma",
    "gemma2", "gemma3_text", "olmo", "olmo2", "granite", "cohere", "stablelm", "starcoder2",
    "smollm3", "helium", "glm", "exaone4",
}  # fmt: skip
_NORM_NAMES = ("norm", "ln_f", "final_layer_norm", "final_norm", "norm_f", "final_layernorm")


def _get(root: nn.Module, path: str) -> Any:
    obj: Any = root
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _call_getter(model: nn.Module, name: str) -> Any:
    getter = getattr(model, name, None)
    return getter() if callable(getter) else None


def _embed_scale(embedding: nn.Module) -> float:
    # Gemma-style scaled embeddings carry their multiplier (√d) on the module.
    scale = getattr(embedding, "scalar_embed_scale", None)
    if scale is None:
        buf = getattr(embedding, "embed_scale", None)
        scale = float(buf) if isinstance(buf, torch.Tensor | float | int) else 1.0
    return float(scale)


def _family(model: nn.Module) -> str:
    model_type = str(getattr(getattr(model, "config", None), "model_type", "") or "")
    if model_type in _LLAMA_LIKE:
        return "decoder-only (model.layers)"
    if model_type in _KNOWN:
        return model_type
    return "generic"


def _logit_transform(config: Any) -> tuple[float, float | None, list[str]]:
    """(multiplicative logit scale, final soft-cap, notes) from a transformers config."""
    notes: list[str] = []
    scale = 1.0
    cohere_scale = getattr(config, "logit_scale", None)
    if isinstance(cohere_scale, float | int) and cohere_scale != 1.0:
        scale *= float(cohere_scale)
        notes.append(f"logits multiplied by logit_scale={cohere_scale}")
    granite = getattr(config, "logits_scaling", None)
    if isinstance(granite, float | int) and granite != 1.0:
        scale /= float(granite)
        notes.append(f"logits divided by logits_scaling={granite}")
    cap = getattr(config, "final_logit_softcapping", None)
    softcap = float(cap) if isinstance(cap, float | int) and cap > 0 else None
    if softcap is not None:
        notes.append(f"final logit soft-capping at {softcap}")
    return scale, softcap, notes


def _generic_parts(model: nn.Module) -> tuple[nn.ModuleList, nn.Module | None]:
    """Longest ModuleList is the block stack; a child named like a norm of the same parent."""
    best: tuple[str, nn.ModuleList] | None = None
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and (best is None or len(module) > len(best[1])):
            best = (name, module)
    if best is None or len(best[1]) == 0:
        raise ArchitectureError("no block list (nn.ModuleList) found in the model")
    parent_path = best[0].rpartition(".")[0]
    parent = _get(model, parent_path) if parent_path else model
    norm = None
    for cand in _NORM_NAMES:
        found = getattr(parent, cand, None)
        if isinstance(found, nn.Module):
            norm = found
            break
    return best[1], norm


def introspect(model: nn.Module) -> ModelArchitecture:
    """Find blocks, final norm, unembedding (+bias, scaling, soft-cap) and input embedding."""
    family = _family(model)
    config = getattr(model, "config", None)
    notes: list[str] = []
    post: nn.Module | None = None
    if family in _KNOWN:
        blocks_path, norm_path, post_path, embed_path = _KNOWN[family]
        blocks = _get(model, blocks_path)
        norm = _get(model, norm_path)
        post = _get(model, post_path) if post_path else None
        embedding = _get(model, embed_path)
    else:
        blocks, norm = _generic_parts(model)
        embedding = _call_getter(model, "get_input_embeddings")
        notes.append("generic introspection (unknown model type); verified by the lens fidelity")
    if not isinstance(blocks, nn.ModuleList) or len(blocks) == 0:
        raise ArchitectureError(f"{family}: block list not found")
    if not isinstance(embedding, nn.Module):
        raise ArchitectureError(f"{family}: input embedding not found")
    output = _call_getter(model, "get_output_embeddings")
    unembed = getattr(output, "weight", None)
    if not isinstance(output, nn.Module) or not isinstance(unembed, torch.Tensor):
        raise ArchitectureError(f"{family}: unembedding (output embeddings) not found")
    bias = getattr(output, "bias", None)
    if norm is None:
        # OPT with post-layer-norm blocks (e.g. opt-350m) has no final norm: the identity is right.
        notes.append("no final norm: the head reads the last block's output directly")
        norm = nn.Identity()
    if post is not None:
        notes.append(f"{type(post).__name__} projection between final norm and unembedding")
        norm = nn.Sequential(norm, post)
    scale, softcap, logit_notes = _logit_transform(config)
    notes.extend(logit_notes)
    head = HeadSpec(
        norm=norm,
        unembed=unembed.detach(),
        bias=bias.detach() if isinstance(bias, torch.Tensor) else None,
        logit_scale=scale,
        final_softcap=softcap,
    )
    return ModelArchitecture(
        family=family, blocks=blocks, head=head, embedding=embedding, notes=notes
    )

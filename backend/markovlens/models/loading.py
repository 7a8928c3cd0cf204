"""``load_model``: a source string in, an eval-mode causal LM + tokenizer + metadata out.

Everything the user can get wrong is checked before weights are read (see ``checkpoint.py`` and
``safety.py``); transformers is always called with ``trust_remote_code=False`` and, for
directories and the Hub, ``use_safetensors=True``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from markovlens.models.checkpoint import Checkpoint, resolve_checkpoint
from markovlens.models.device import DTYPE_NAMES, bytes_per_parameter, resolve_device, resolve_dtype
from markovlens.models.errors import ModelLoadError, ModelSourceError
from markovlens.models.hashing import content_hash
from markovlens.models.model_source import ModelSource, parse_model_source
from markovlens.models.placement import PlacementError, gpu_memory_bytes, placement_kwargs
from markovlens.models.safety import check_causal_lm
from markovlens.schema.result import ModelMeta
from markovlens.settings import Settings

log = logging.getLogger(__name__)

RANDOM_INIT_SEED = 0

# Peak memory of an analysis job over its weights: 1.25 × weights (allocator slack, transient
# copies while loading) + 1 GiB of workspace (a batch's logits: 8×256×49152 fp32 is 0.4 GiB;
# hidden states of every layer; softmax temporaries). Measured on CPU, fp32, SmolLM2-135M: 0.50
# GiB of weights, process peak 1.51 GiB above the interpreter's 0.28 GiB after loading the GGUF
# and one forward of 8×256 tokens with hidden states; the estimate is 1.63 GiB. GGUF loading
# dequantises through a second copy (~1.8× weights), so very large GGUF files may exceed it.
MEMORY_OVERHEAD_FACTOR = 1.25
MEMORY_WORKSPACE_BYTES = 1 << 30


@dataclass
class LoadedModel:
    """A model ready for ``run_analysis``; ``tokenizer`` is None for synthetic vocabularies."""

    model: Any  # a transformers PreTrainedModel (causal LM), eval mode, on ``device``
    # or, when one GPU cannot hold it, spread over several (``model.hf_device_map``)
    tokenizer: Any | None
    meta: ModelMeta
    training_step: int | None = None
    run_name: str | None = None
    device: str = "cpu"
    dtype: str = "float32"
    source: ModelSource | None = None


def estimate_memory_bytes(num_parameters: int, dtype: str | torch.dtype) -> int:
    """Bytes a job needs to analyse a model of ``num_parameters`` in ``dtype`` (for routing)."""
    weights = num_parameters * bytes_per_parameter(dtype)
    return int(weights * MEMORY_OVERHEAD_FACTOR) + MEMORY_WORKSPACE_BYTES


def _cache_file(settings: Settings) -> Path:
    return Path(settings.data_dir) / "cache" / "content_hashes.json"


def _checkpoint_hash(checkpoint: Checkpoint, settings: Settings) -> str | None:
    if checkpoint.hub_hash is not None:
        return checkpoint.hub_hash
    if not checkpoint.weight_files:
        return None
    return content_hash(checkpoint.weight_files, _cache_file(settings))


def _random_init_hash(inner_hash: str | None, inner_revision: str) -> str:
    """Fresh weights are a function of (config, seed): hash the inner identity with the seed."""
    basis = f"random-init(seed={RANDOM_INIT_SEED})/{inner_hash or inner_revision}"
    return "sha256:" + hashlib.sha256(basis.encode()).hexdigest()


def _identity(
    checkpoint: Checkpoint, settings: Settings, random_init: bool
) -> tuple[str, str | None]:
    """(revision, content hash) recorded for the model; random-init derives both from the inner."""
    inner_hash = _checkpoint_hash(checkpoint, settings)
    if not random_init:
        return checkpoint.revision, inner_hash
    revision = f"random-init(seed={RANDOM_INIT_SEED})/{checkpoint.revision}"
    return revision, _random_init_hash(inner_hash, checkpoint.revision)


def _load_config(checkpoint: Checkpoint, label: str) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(
            checkpoint.location, trust_remote_code=False, **checkpoint.kwargs
        )
    except ModelLoadError:
        raise
    except Exception as exc:  # transformers raises ValueError/OSError/KeyError here
        raise ModelLoadError(f"cannot read the config of {label}: {exc}") from exc


def _load_tokenizer(checkpoint: Checkpoint, label: str) -> Any | None:
    if not (checkpoint.has_tokenizer or checkpoint.is_gguf):
        return None
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(
            checkpoint.location, trust_remote_code=False, **checkpoint.kwargs
        )
    except Exception as exc:
        raise ModelLoadError(f"cannot load the tokenizer of {label}: {exc}") from exc


def _count_parameters(model: torch.nn.Module) -> int:
    # parameters() yields a tied tensor once, so tied embeddings are not double counted.
    return sum(p.numel() for p in model.parameters())


def _meta_from(config: Any, architecture: str, **fields: Any) -> ModelMeta:
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return ModelMeta(
        architecture=architecture,
        num_layers=getattr(text, "num_hidden_layers", None),
        hidden_size=getattr(text, "hidden_size", None),
        vocab_size=getattr(text, "vocab_size", None),
        **fields,
    )


def _parse(source: str | ModelSource) -> ModelSource:
    return source if isinstance(source, ModelSource) else parse_model_source(source)


def _parameter_count(config: Any) -> int | None:
    """Parameters of the model ``config`` describes, from a ``meta``-device skeleton (no
    memory, no weights read); None for a config transformers cannot instantiate."""
    from transformers import AutoModelForCausalLM

    try:
        with torch.device("meta"):
            skeleton = AutoModelForCausalLM.from_config(config)
    except Exception as exc:  # still route and load it; only the size is unknown
        log.warning("cannot count the parameters of a %s: %s", type(config).__name__, exc)
        return None
    return _count_parameters(skeleton)


def _placement(config: Any, dtype: torch.dtype, device: str, label: str) -> dict[str, Any]:
    """``device_map`` kwargs when the job needs several GPUs of this machine, else {}."""
    if not device.startswith("cuda") or ":" in device:
        return {}  # CPU, MPS, or a GPU the user pinned: one device
    gpus = gpu_memory_bytes()
    if len(gpus) <= 1:
        return {}
    count = _parameter_count(config)
    if count is None:
        return {}
    weights = count * bytes_per_parameter(dtype)
    try:
        return placement_kwargs(estimate_memory_bytes(count, dtype), weights, gpus, device)
    except PlacementError as exc:
        raise ModelLoadError(f"{label} cannot be placed on this machine: {exc}") from exc


def load_weights(
    checkpoint: Checkpoint,
    config: Any,
    dtype: torch.dtype,
    random_init: bool,
    placement: dict[str, Any],
) -> Any:
    """The model on the CPU, or dispatched by ``placement`` (``device_map``/``max_memory``)."""
    from transformers import AutoModelForCausalLM

    if random_init:
        torch.manual_seed(RANDOM_INIT_SEED)
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
        return _dispatch(model, placement) if placement else model
    extra: dict[str, Any] = {} if checkpoint.is_gguf else {"use_safetensors": True}
    return AutoModelForCausalLM.from_pretrained(
        checkpoint.location,
        config=config,
        dtype=dtype,
        trust_remote_code=False,
        **checkpoint.kwargs,
        **extra,
        **placement,
    )


def _dispatch(model: Any, placement: dict[str, Any]) -> Any:
    """Spread an in-memory model as ``from_pretrained(device_map=...)`` would have."""
    from accelerate import dispatch_model, infer_auto_device_map

    device_map = placement["device_map"]
    if isinstance(device_map, str):
        device_map = infer_auto_device_map(
            model,
            max_memory=placement.get("max_memory"),
            no_split_module_classes=getattr(model, "_no_split_modules", None) or [],
        )
    return dispatch_model(model, device_map=device_map)


def _placement_label(model: Any, device: str) -> str:
    devices = sorted({str(d) for d in (getattr(model, "hf_device_map", None) or {}).values()})
    return device if len(devices) <= 1 else f"device_map over {', '.join(devices)}"


def load_model(
    source: str | ModelSource,
    settings: Settings,
    *,
    device: str | None = None,
    dtype: str | None = None,
) -> LoadedModel:
    """Load ``source`` for analysis. Raises ``ModelSourceError`` (bad string) or
    ``ModelLoadError`` (refused or failed), both with a message meant for the user."""
    parsed = _parse(source)
    label = parsed.canonical
    base = parsed.base
    random_init = parsed.kind == "random-init"
    resolved_device = resolve_device(device or settings.device)
    torch_dtype = resolve_dtype(dtype or settings.dtype, resolved_device)

    checkpoint = resolve_checkpoint(base, settings, need_weights=not random_init)
    config = _load_config(checkpoint, label)
    architecture = check_causal_lm(config)
    tokenizer = _load_tokenizer(checkpoint, label)

    placement = _placement(config, torch_dtype, resolved_device, label)
    try:
        model = load_weights(checkpoint, config, torch_dtype, random_init, placement)
        if not placement:
            model = model.to(resolved_device)
        model.eval()
    except torch.cuda.OutOfMemoryError as exc:
        raise ModelLoadError(f"{label} does not fit in {resolved_device} memory: {exc}") from exc
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"cannot load the weights of {label}: {exc}") from exc

    revision, digest = _identity(checkpoint, settings, random_init)
    meta = _meta_from(
        config,
        architecture,
        source=label,
        revision=revision,
        content_hash=digest,
        num_parameters=_count_parameters(model),
    )
    log.info(
        "loaded %s (%s, %d parameters) on %s",
        label,
        architecture,
        meta.num_parameters,
        _placement_label(model, resolved_device),
    )
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        meta=meta,
        training_step=checkpoint.training_step,
        run_name=checkpoint.run_name,
        device=resolved_device,
        dtype=DTYPE_NAMES.get(torch_dtype, str(torch_dtype)),
        source=parsed,
    )


def inspect_model(source: str | ModelSource, settings: Settings) -> ModelMeta:
    """Metadata from the config alone (no weights read): for routing a job to a queue.

    The parameter count comes from building the model on the ``meta`` device (shapes only).
    """
    parsed = _parse(source)
    random_init = parsed.kind == "random-init"
    checkpoint = resolve_checkpoint(parsed.base, settings, need_weights=not random_init)
    config = _load_config(checkpoint, parsed.canonical)
    architecture = check_causal_lm(config)
    num_parameters = _parameter_count(config)
    revision, digest = _identity(checkpoint, settings, random_init)
    return _meta_from(
        config,
        architecture,
        source=parsed.canonical,
        revision=revision,
        content_hash=digest,
        num_parameters=num_parameters,
    )


__all__ = [
    "LoadedModel",
    "ModelLoadError",
    "ModelSourceError",
    "estimate_memory_bytes",
    "inspect_model",
    "load_model",
    "load_weights",
]

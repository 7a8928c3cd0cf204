"""Safety checks before anything is loaded: allowed paths, weight formats, remote code, kind.

Every check reads only file names and ``config.json``; no weights are touched, so a refused
model costs nothing and a pickle file is never unpickled.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from markovlens.models.errors import ModelLoadError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")

# Families whose "causal LM" class is an encoder run as a decoder (BertLMHeadModel...). A
# checkpoint of these counts as causal only if it was saved as that class (``architectures``).
_CAUSAL_CLASS_SUFFIXES = ("ForCausalLM", "LMHeadModel")


def resolve_inside_roots(raw: str, roots: Sequence[Path], *, what: str) -> Path:
    """Resolve ``raw`` (symlinks followed) and require it to lie inside one of ``roots``.

    ``Path.resolve`` collapses ``..`` and follows every symlink first, so neither traversal
    nor a symlink pointing out of a root can pass the containment test.
    """
    if not roots:
        raise ModelLoadError(
            f"{what} sources are disabled: no model roots are configured. Set "
            "MARKOVLENS_MODEL_ROOTS to the directories (comma-separated) that may be loaded."
        )
    path = Path(raw).expanduser().resolve()
    resolved_roots = [Path(root).expanduser().resolve() for root in roots]
    if not _inside(path, resolved_roots):
        allowed = ", ".join(str(root) for root in resolved_roots)
        raise ModelLoadError(
            f"{raw!r} resolves to {path}, which is outside the allowed model roots ({allowed})"
        )
    if not path.exists():
        raise ModelLoadError(f"{raw!r} does not exist ({path})")
    if path.is_dir():
        # Files inside an allowed directory may be symlinks too: each must stay inside.
        for entry in path.iterdir():
            target = entry.resolve()
            if entry.is_symlink() and not _inside(target, resolved_roots):
                raise ModelLoadError(
                    f"{raw!r} contains {entry.name}, a link to {target} outside the allowed "
                    "model roots"
                )
    return path


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path.is_relative_to(root) for root in roots)


def safetensors_files(directory: Path) -> list[Path]:
    """Safetensors weight files of a checkpoint directory, sorted by name."""
    return sorted(p for p in directory.glob("*.safetensors") if p.is_file())


def pickle_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in PICKLE_SUFFIXES)


def check_weight_files(directory: Path) -> list[Path]:
    """Return the safetensors files; refuse pickle-only and weightless directories."""
    weights = safetensors_files(directory)
    if weights:
        return weights
    pickles = pickle_files(directory)
    if pickles:
        names = ", ".join(p.name for p in pickles[:3])
        raise ModelLoadError(
            f"pickle weights are refused: convert to safetensors ({directory} has only {names}; "
            "pickle files can run arbitrary code when loaded)"
        )
    raise ModelLoadError(f"no safetensors weights found in {directory}")


def read_config_json(directory: Path) -> dict[str, Any]:
    path = directory / "config.json"
    if not path.is_file():
        raise ModelLoadError(f"{directory} has no config.json: not a transformers checkpoint")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} is not a JSON object")
    return data


def check_no_remote_code(config: dict[str, Any], where: str) -> None:
    """Refuse configs that need ``trust_remote_code`` (custom Python shipped with the model)."""
    if "auto_map" in config:
        raise ModelLoadError(
            f"{where} needs remote code (its config has 'auto_map'): trust_remote_code is "
            "refused; only architectures built into transformers can be loaded"
        )


def check_causal_lm(config: Any, architectures: Iterable[str] | None = None) -> str:
    """Return the architecture name; refuse configs that are not causal language models."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    model_type = getattr(config, "model_type", None) or "unknown"
    archs = list(architectures if architectures is not None else [])
    if not archs:
        archs = list(getattr(config, "architectures", None) or [])
    name = archs[0] if archs else model_type
    causal_class = MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(model_type)
    if getattr(config, "is_encoder_decoder", False) or causal_class is None:
        raise ModelLoadError(
            f"{name} (model_type {model_type!r}) is not a causal language model: markovlens "
            "analyses decoder-only models that transformers loads with AutoModelForCausalLM"
        )
    # Encoder families (BERT, RoBERTa...) have a causal class too; the checkpoint's own
    # declared class decides, so a BertModel/BertForMaskedLM is refused.
    if archs and not any(a == causal_class or a.endswith(_CAUSAL_CLASS_SUFFIXES) for a in archs):
        raise ModelLoadError(
            f"{name} is not a causal language model (checkpoint saved as {', '.join(archs)}; "
            f"expected {causal_class})"
        )
    return causal_class if not archs else name

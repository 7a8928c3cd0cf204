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


# Longest path and path component accepted (Linux's PATH_MAX and NAME_MAX): anything longer
# is an OSError waiting to happen, refused up front with a message.
MAX_PATH_CHARS = 4096
MAX_NAME_CHARS = 255
# A model directory is a few dozen files; the walk that checks every one is bounded.
MAX_TREE_ENTRIES = 10_000
MAX_INDEX_BYTES = 64 << 20


def _label(raw: str) -> str:
    """The user's own path string for messages, shortened: never the resolved target."""
    return repr(raw if len(raw) <= 200 else raw[:200] + "…")


def _os_reason(exc: BaseException) -> str:
    # str(OSError) embeds the resolved file name; strerror is only the reason.
    return getattr(exc, "strerror", None) or type(exc).__name__


def resolve_inside_roots(raw: str, roots: Sequence[Path], *, what: str) -> Path:
    """Resolve ``raw`` (symlinks followed) and require it to lie inside one of ``roots``.

    ``Path.resolve`` collapses ``..`` and follows every symlink first, so neither traversal
    nor a symlink pointing out of a root can pass the containment test. For a directory,
    every entry below it is checked the same way (``check_tree``). Messages name the
    user's path and the configured roots, never a resolved target: that would tell a
    submitter where ``/proc/self/fd/7`` or ``~`` lead on the server.
    """
    if not roots:
        raise ModelLoadError(
            f"{what} sources are disabled: no model roots are configured. Set "
            "MARKOVLENS_MODEL_ROOTS to the directories (comma-separated) that may be loaded."
        )
    allowed = ", ".join(str(root) for root in roots)
    label = _label(raw)
    if len(raw) > MAX_PATH_CHARS or any(len(part) > MAX_NAME_CHARS for part in raw.split("/")):
        raise ModelLoadError(
            f"{label} is too long for a path (at most {MAX_PATH_CHARS} characters, "
            f"{MAX_NAME_CHARS} per name); use a path inside the model roots ({allowed})"
        )
    try:
        path = Path(raw).expanduser().resolve()
        resolved_roots = [Path(root).expanduser().resolve() for root in roots]
        inside = _inside(path, resolved_roots)
        exists = inside and path.exists()
    except (OSError, RuntimeError, ValueError) as exc:
        raise ModelLoadError(
            f"{label} cannot be resolved ({_os_reason(exc)}); use a path inside the model "
            f"roots ({allowed})"
        ) from None
    if not inside:
        raise ModelLoadError(f"{label} is outside the allowed model roots ({allowed})")
    if not exists:
        raise ModelLoadError(f"{label} does not exist")
    if path.is_dir():
        check_tree(path, resolved_roots, label)
    return path


def check_tree(directory: Path, roots: Sequence[Path], label: str) -> None:
    """Every entry below ``directory``, at any depth, must resolve inside ``roots``.

    Linked directories are followed (each real directory once), so a link that stays inside
    the roots cannot lead to one that does not.
    """
    seen: set[Path] = set()
    pending = [directory]
    count = 0
    try:
        while pending:
            current = pending.pop()
            real = current.resolve()
            if real in seen:
                continue
            seen.add(real)
            for entry in current.iterdir():
                count += 1
                if count > MAX_TREE_ENTRIES:
                    raise ModelLoadError(
                        f"{label} has more than {MAX_TREE_ENTRIES:,} files; point at the "
                        "checkpoint directory itself"
                    )
                target = entry.resolve()
                if not _inside(target, roots):
                    where = entry.relative_to(directory)
                    raise ModelLoadError(
                        f"{label} contains {str(where)!r}, a link outside the allowed model roots"
                    )
                if target.is_dir():
                    pending.append(entry)
    except OSError as exc:
        raise ModelLoadError(f"{label} cannot be read ({_os_reason(exc)})") from None


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path.is_relative_to(root) for root in roots)


def check_index_targets(directory: Path, label: str) -> None:
    """Every ``*.safetensors.index.json`` may name only safetensors shards inside ``directory``.

    The loader opens whatever the index's ``weight_map`` names, joined to the directory: an
    entry ``../../outside/x.safetensors`` would read a file the tree check never saw.
    """
    for index in sorted(directory.glob("*.safetensors.index.json")):
        try:
            if index.stat().st_size > MAX_INDEX_BYTES:
                raise ModelLoadError(f"{label}: {index.name} is larger than an index can be")
            data = json.loads(index.read_text(encoding="utf-8"))
        except OSError as exc:
            reason = _os_reason(exc)
            raise ModelLoadError(f"{label}: {index.name} cannot be read ({reason})") from None
        except ValueError as exc:
            raise ModelLoadError(f"{label}: {index.name} is not valid JSON ({exc})") from None
        weight_map = data.get("weight_map") if isinstance(data, dict) else None
        if not isinstance(weight_map, dict):
            raise ModelLoadError(f"{label}: {index.name} has no weight_map object")
        base = directory.resolve()
        for target in sorted({str(value) for value in weight_map.values()}):
            shard = (base / target).resolve()
            if (
                not target.endswith(".safetensors")
                or Path(target).is_absolute()
                or not shard.is_relative_to(base)
            ):
                raise ModelLoadError(
                    f"{label}: {index.name} names {target[:200]!r}, which is not a safetensors "
                    "file inside the checkpoint directory"
                )
            if not shard.is_file():
                raise ModelLoadError(f"{label}: {index.name} names a missing shard {target!r}")


def safetensors_files(directory: Path) -> list[Path]:
    """Safetensors weight files of a checkpoint directory, sorted by name."""
    return sorted(p for p in directory.glob("*.safetensors") if p.is_file())


def pickle_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in PICKLE_SUFFIXES)


def check_weight_files(directory: Path, label: str | None = None) -> list[Path]:
    """Return the safetensors files; refuse pickle-only and weightless directories.

    ``label`` (the user's source string) names the checkpoint in messages.
    """
    label = label or _label(str(directory))
    weights = safetensors_files(directory)
    if weights:
        check_index_targets(directory, label)
        return weights
    pickles = pickle_files(directory)
    if pickles:
        names = ", ".join(p.name for p in pickles[:3])
        raise ModelLoadError(
            f"pickle weights are refused: convert to safetensors ({label} has only {names}; "
            "pickle files can run arbitrary code when loaded)"
        )
    raise ModelLoadError(f"no safetensors weights found in {label}")


def read_config_json(directory: Path, label: str | None = None) -> dict[str, Any]:
    label = label or _label(str(directory))
    path = directory / "config.json"
    if not path.is_file():
        raise ModelLoadError(f"{label} has no config.json: not a transformers checkpoint")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read the config.json of {label}: {_os_reason(exc)}") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"the config.json of {label} is not a JSON object")
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

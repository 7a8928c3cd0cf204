"""Parse the model source strings users type into a typed ``ModelSource``.

Valid forms (docs/methods.md#provenance):

- ``hf:<repo>[@<revision>]``   a Hugging Face Hub repository (online only)
- ``local:<dir>``              a saved checkpoint under one of ``settings.model_roots``
- ``gguf:<file>``              a GGUF file under one of ``settings.model_roots``
- ``builtin:<name>``           a model shipped with the install (``smollm2-135m``)
- ``random-init:<source>``     the architecture of ``<source>`` with fresh weights (seed 0)
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

from markovlens.models.errors import ModelSourceError

SourceKind = Literal["hf", "local", "gguf", "builtin", "random-init"]

BUILTIN_MODELS: tuple[str, ...] = ("smollm2-135m",)

VALID_FORMS = (
    "hf:<repo>[@<revision>], local:<dir>, gguf:<file>, "
    f"builtin:{{{','.join(BUILTIN_MODELS)}}}, random-init:<any of these>"
)

# Hub repo ids: "name" or "org/name", letters, digits, -, _, . (the Hub's own rule).
_HF_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


# A revision is a commit id or a Git ref name (git check-ref-format's rules): it reaches the
# Hub client, the database and the logs, so control characters and path tricks stop here.
_COMMIT = re.compile(r"^[0-9a-fA-F]{7,64}$")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
MAX_REVISION_CHARS = 255


def revision_problem(revision: str) -> str | None:
    """Why ``revision`` is neither a commit id nor a valid Git ref name; None if it is one."""
    if _COMMIT.match(revision):
        return None
    if len(revision) > MAX_REVISION_CHARS:
        return f"longer than {MAX_REVISION_CHARS} characters"
    if _REF_FORBIDDEN.search(revision):
        return "control characters, spaces and ~ ^ : ? * [ \\ are not allowed"
    if ".." in revision or "@{" in revision or "//" in revision or revision == "@":
        return "'..', '@{', '//' and a lone '@' are not allowed"
    if revision.startswith(("/", "-")) or revision.endswith(("/", ".", ".lock")):
        return "it may not start with '/' or '-', nor end with '/', '.' or '.lock'"
    if any(part.startswith(".") for part in revision.split("/")):
        return "no part of it may start with '.'"
    return None


def check_revision(revision: str) -> None:
    """Raise ``ModelSourceError`` for a revision that is not a commit or a ref name."""
    why = revision_problem(revision)
    if why is not None:
        raise ModelSourceError(
            f"invalid revision {revision[:80]!r}: {why}. Use a branch or tag name "
            "(main, v1.0, refs/pr/1) or a commit id (7 to 64 hex digits)"
        )


class ModelSource(BaseModel):
    """A parsed model source. ``inner`` is set only for ``random-init``."""

    model_config = ConfigDict(frozen=True)

    kind: SourceKind
    ref: str
    revision: str | None = None
    inner: ModelSource | None = None

    @property
    def canonical(self) -> str:
        """The source string, normalised (what the ``models`` table stores)."""
        if self.kind == "random-init" and self.inner is not None:
            return f"random-init:{self.inner.canonical}"
        if self.kind == "hf" and self.revision:
            return f"hf:{self.ref}@{self.revision}"
        return f"{self.kind}:{self.ref}"

    @property
    def base(self) -> ModelSource:
        """The source whose config and tokenizer are used (unwraps ``random-init``)."""
        return self.inner.base if self.inner is not None else self


def _error(source: str, why: str) -> ModelSourceError:
    return ModelSourceError(f"invalid model source {source!r}: {why}. Valid forms: {VALID_FORMS}")


def parse_model_source(source: str) -> ModelSource:
    """Parse ``source``; raise ``ModelSourceError`` (a ``ValueError``) naming the valid forms."""
    text = source.strip()
    scheme, sep, ref = text.partition(":")
    if not sep:
        raise _error(source, "no scheme (expected '<scheme>:<reference>')")
    if scheme == "random-init":
        inner = parse_model_source(ref)
        if inner.kind == "random-init":
            raise _error(source, "random-init cannot be nested")
        return ModelSource(kind="random-init", ref=inner.canonical, inner=inner)
    if not ref.strip():
        raise _error(source, f"empty reference after '{scheme}:'")
    ref = ref.strip()
    if scheme == "hf":
        repo, at, revision = ref.partition("@")
        if not _HF_REPO.match(repo) or ".." in repo:
            raise _error(source, f"{repo!r} is not a Hub repository id ('org/name')")
        if at and not revision:
            raise _error(source, "empty revision after '@'")
        if revision:
            check_revision(revision)
        return ModelSource(kind="hf", ref=repo, revision=revision or None)
    if scheme in ("local", "gguf"):
        if "\x00" in ref:
            raise _error(source, "NUL byte in path")
        if scheme == "gguf" and not ref.lower().endswith(".gguf"):
            raise _error(source, "a gguf: source must name a .gguf file")
        return ModelSource(kind=scheme, ref=ref)  # type: ignore[arg-type]
    if scheme == "builtin":
        if ref not in BUILTIN_MODELS:
            raise _error(source, f"unknown builtin model {ref!r}")
        return ModelSource(kind="builtin", ref=ref)
    raise _error(source, f"unknown scheme {scheme!r}")

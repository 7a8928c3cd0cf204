"""Model sources: parse a source string, check it is safe, load it with its metadata.

Loading needs torch and transformers, so those names load on first use: the API and the CLI's
HTTP commands parse sources and catch the errors without importing either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from markovlens.models.errors import ModelLoadError, ModelSourceError
from markovlens.models.model_source import ModelSource, parse_model_source

if TYPE_CHECKING:
    from markovlens.models.loading import (
        LoadedModel,
        estimate_memory_bytes,
        inspect_model,
        load_model,
    )

__all__ = [
    "LoadedModel",
    "ModelLoadError",
    "ModelSource",
    "ModelSourceError",
    "estimate_memory_bytes",
    "inspect_model",
    "load_model",
    "parse_model_source",
]

# From markovlens.models.loading (imports torch and transformers).
_LAZY = {"LoadedModel", "estimate_memory_bytes", "inspect_model", "load_model"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from markovlens.models import loading

        return getattr(loading, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Model sources: parse a source string, check it is safe, load it with its metadata."""

from markovlens.models.errors import ModelLoadError, ModelSourceError
from markovlens.models.loading import (
    LoadedModel,
    estimate_memory_bytes,
    inspect_model,
    load_model,
)
from markovlens.models.sources import ModelSource, parse_model_source

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

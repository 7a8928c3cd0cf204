"""Errors of the model sources: both carry a message meant for the user, not a traceback."""

from __future__ import annotations


class ModelSourceError(ValueError):
    """The source string cannot be parsed (unknown scheme, empty reference...)."""


class ModelLoadError(RuntimeError):
    """The source parsed, but the model cannot (or must not) be loaded."""

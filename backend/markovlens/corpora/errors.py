"""Corpus errors carry a message meant for the user."""

from __future__ import annotations


class CorpusError(ValueError):
    """The corpus source is invalid, unavailable, or too small for the requested windows."""

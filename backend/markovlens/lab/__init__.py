"""The ground-truth lab: synthetic sources with exact answers, an oracle model, a tiny trainer.

``get_source(name)`` is the contract the corpora package uses for ``synthetic:<name>``.
The names below load on first use: importing the package (the CLI does, for ``lab``'s
commands) must not import torch for commands that never touch a source.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from markovlens.lab.synthetic_sources import SyntheticSource, get_source, source_names

__all__ = ["SyntheticSource", "get_source", "source_names"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from markovlens.lab import synthetic_sources

        return getattr(synthetic_sources, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

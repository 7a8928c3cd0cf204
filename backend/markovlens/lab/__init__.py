"""The ground-truth lab: synthetic sources with exact answers, an oracle model, a tiny trainer.

``get_source(name)`` is the contract the corpora package uses for ``synthetic:<name>``.
"""

from markovlens.lab.sources import SyntheticSource, get_source, source_names

__all__ = ["SyntheticSource", "get_source", "source_names"]

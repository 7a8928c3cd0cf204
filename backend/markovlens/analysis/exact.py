"""Exact reference values for corpora with a known generating process (synthetic sources)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ExactReference:
    """Ground truth that rides along with a synthetic corpus's windows.

    ``true_probs[w, t]`` is the exact next-token distribution p*(· | x_≤t) of window w at
    position t (shape [windows, window_len − 1, V]). ``ideal_surplus[K]`` is the surplus of an
    ideal sufficient statistic for K = 2… (nats); ``entropy_rate`` is the source's (nats/token).
    """

    source: str
    description: str
    true_probs: np.ndarray
    entropy_rate: float
    ideal_surplus: dict[int, float] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)

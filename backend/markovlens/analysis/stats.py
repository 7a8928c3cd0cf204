"""Bootstrap intervals over windows (the unit of independence in a corpus)."""

from __future__ import annotations

import numpy as np

from markovlens.schema.common import Interval, PositionCurve


def bootstrap_mean(
    per_window_sums: np.ndarray,
    per_window_counts: np.ndarray,
    samples: int,
    rng: np.random.Generator,
) -> Interval:
    """Ratio-of-sums mean with a 95% percentile interval, resampling whole windows."""
    sums = np.asarray(per_window_sums, dtype=np.float64)
    counts = np.asarray(per_window_counts, dtype=np.float64)
    estimate = float(sums.sum() / counts.sum())
    n = len(sums)
    if n < 2:
        return Interval(estimate=estimate, low=estimate, high=estimate)
    idx = rng.integers(0, n, size=(samples, n))
    boot = sums[idx].sum(axis=1) / np.maximum(counts[idx].sum(axis=1), 1e-12)
    low, high = np.percentile(boot, [2.5, 97.5])
    return Interval(estimate=estimate, low=float(low), high=float(high))


def bootstrap_position_curve(
    values: np.ndarray, samples: int, rng: np.random.Generator
) -> PositionCurve:
    """``values`` is [windows, positions]; mean per position with a band over windows."""
    values = np.asarray(values, dtype=np.float64)
    n_windows, n_pos = values.shape
    mean = values.mean(axis=0)
    if n_windows < 2:
        return PositionCurve(
            positions=list(range(n_pos)), mean=mean.tolist(), low=mean.tolist(), high=mean.tolist()
        )
    idx = rng.integers(0, n_windows, size=(samples, n_windows))
    boot = values[idx].mean(axis=1)  # [samples, positions]
    low, high = np.percentile(boot, [2.5, 97.5], axis=0)
    return PositionCurve(
        positions=list(range(n_pos)), mean=mean.tolist(), low=low.tolist(), high=high.tolist()
    )

"""Exact reference values for corpora with a known generating process (synthetic sources)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from markovlens.analysis.stats import bootstrap_mean, bootstrap_position_curve
from markovlens.schema.exact_comparison import ExactComparison


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


def exact_comparison(
    reference: ExactReference,
    arrays: dict[str, np.ndarray],
    bootstrap_samples: int,
    rng: np.random.Generator,
) -> ExactComparison:
    """Model versus the true predictive p*, from capture's per-token exact arrays.

    Per position CE_t = −Σ p*_t log p_t = KL_t + H*_t holds exactly; the observed nll_t is a
    sample of CE_t (y ~ p*), so mean(nll − CE) should be 0 within its interval.
    """
    kl = arrays["exact_kl"].astype(np.float64)
    true_ent = arrays["exact_true_entropy"].astype(np.float64)
    cross = arrays["exact_cross_entropy"].astype(np.float64)
    nll = arrays["nll"].astype(np.float64)
    counts = np.full(kl.shape[0], kl.shape[1], dtype=np.float64)
    return ExactComparison(
        source=reference.source,
        description=reference.description,
        mean_kl=bootstrap_mean(kl.sum(1), counts, bootstrap_samples, rng),
        mean_true_entropy=bootstrap_mean(true_ent.sum(1), counts, bootstrap_samples, rng),
        mean_cross_entropy=float(cross.mean()),
        nll_minus_cross_entropy=bootstrap_mean(
            (nll - cross).sum(1), counts, bootstrap_samples, rng
        ),
        # The arrays are stored in fp32: the identity holds to fp32 rounding of each term.
        identity_max_abs_error=float(np.abs(cross - kl - true_ent).max()),
        entropy_rate=float(reference.entropy_rate),
        model_entropy_minus_true=float(arrays["entropy"].mean() - true_ent.mean()),
        kl_by_position=bootstrap_position_curve(kl, bootstrap_samples, rng),
        ideal_surplus={int(k): float(v) for k, v in reference.ideal_surplus.items()},
        extra={str(k): float(v) for k, v in reference.extra.items()},
    )

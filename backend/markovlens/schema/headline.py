"""The headline numbers of a stored AnalysisResult payload (the model card and overview).

What each number means, and when two results' numbers compare: docs/methods.md.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from pydantic import BaseModel, Field

from markovlens.schema.common import metric
from markovlens.schema.verdicts import VERDICTS, Verdict, read_verdict

__all__ = ["VERDICTS", "Headline", "contexts_key", "headline"]


class Headline(BaseModel):
    """The few numbers a model card shows; None where the section was not computed.

    Definitions: docs/methods.md (anchors ``alignment``, ``surplus``, ``entropy``).
    """

    mean_nll: float | None = metric(
        "nats",
        "lower",
        "Mean negative log-likelihood −log p(y_t | x_≤t) of the next token over the scored "
        "tokens, per token (95% bootstrap interval over windows).",
        default=None,
    )
    mean_nll_low: float | None = metric(
        "nats", "lower", "Low end of the mean NLL's 95% bootstrap interval.", default=None
    )
    mean_nll_high: float | None = metric(
        "nats", "lower", "High end of the mean NLL's 95% bootstrap interval.", default=None
    )
    perplexity: float | None = metric("dimensionless", "lower", "exp(mean NLL).", default=None)
    mean_entropy: float | None = metric(
        "nats",
        None,
        "Mean entropy of the model's next-token distribution, per token: how uncertain it "
        "says it is.",
        default=None,
    )
    calibration_gap: float | None = metric(
        "nats",
        "zero",
        "Mean NLL − mean entropy: > 0 over-confident, < 0 under-confident, 0 if calibrated. "
        "Shown beside the top-1 ECE and the gap relative to the entropy.",
        default=None,
    )
    calibration_gap_low: float | None = metric(
        "nats", "zero", "Low end of the calibration gap's 95% bootstrap interval.", default=None
    )
    calibration_gap_high: float | None = metric(
        "nats", "zero", "High end of the calibration gap's 95% bootstrap interval.", default=None
    )
    calibration_gap_relative: float | None = metric(
        "ratio", "zero", "calibration_gap / mean_entropy.", default=None
    )
    ece: float | None = metric(
        "probability",
        "lower",
        "Expected calibration error of the top-1 confidence against top-1 accuracy (15 "
        "equal-mass bins).",
        default=None,
    )
    surplus_k2: float | None = metric(
        "nats",
        None,
        "Surplus_2 = I(H_t; Y_{t+1} | Y_t): information the hidden state holds about the token "
        "after next beyond the next token, from held-out probes, with its 95% interval. "
        "“not detected (≤ b)”: the interval does not lie above 0 (no surplus found at this "
        "sample size, not a measured zero); b is the upper bound H(Y_{t+1} | Y_t). "
        "“insufficient data”: too few windows to decide.",
        default=None,
    )
    surplus_k2_low: float | None = metric(
        "nats", None, "Low end of Surplus_2's 95% interval.", default=None
    )
    surplus_k2_high: float | None = metric(
        "nats", None, "High end of Surplus_2's 95% interval.", default=None
    )
    surplus_k2_detected: bool | None = Field(
        default=None, description='True only for the verdict "detected".'
    )
    surplus_k2_verdict: Verdict | None = Field(
        default=None,
        description="Surplus_2's verdict (schema/verdicts.py): detected (95% interval above 0), "
        "not detected, or insufficient data (too few windows pooled).",
    )
    surplus_k2_upper: float | None = metric(
        "nats", None, "The upper bound H(Y_{t+1} | Y_t) of Surplus_2.", default=None
    )
    surplus_k2_share: float | None = metric(
        "ratio", None, "term_1 / C_1: share of the context ceiling at t+1.", default=None
    )
    surplus_capped: bool | None = Field(
        default=None, description="A surplus probe stopped at its step/epoch cap."
    )
    # Model-free: the data-side same-next-token kernel 1[y_i = y_j], identical for every
    # model on the same corpus and contexts (comparable when contexts_key is equal).
    alignment_lift_last: float | None = metric(
        "ratio",
        "higher",
        "Alignment lift A / A_rand at the last layer with the model-free data-side "
        "same-next-token kernel (identical for every model on the same corpus and contexts), "
        "with its 95% jackknife interval over windows. Comparable only between results with "
        "equal contexts_key (same corpus, contexts and N).",
        default=None,
    )
    alignment_lift_last_low: float | None = metric(
        "ratio", "higher", "Low end of its 95% jackknife interval.", default=None
    )
    alignment_lift_last_high: float | None = metric(
        "ratio", "higher", "High end of its 95% jackknife interval.", default=None
    )
    alignment_kernel: str | None = Field(
        default=None, description='"lin": the kernel of alignment_lift_last.'
    )
    # Data-side prototype kernel built from the model's OWN unembedding ("own prototypes"):
    # a different kernel for every model, so not comparable across models.
    alignment_lift_proto_last: float | None = metric(
        "ratio",
        "higher",
        "The same lift with the data-side K_proto built from this model's own unembedding "
        "prototypes: a different kernel per model, so not for ranking models.",
        default=None,
    )
    alignment_lift_proto_last_low: float | None = metric(
        "ratio", "higher", "Low end of its 95% jackknife interval.", default=None
    )
    alignment_lift_proto_last_high: float | None = metric(
        "ratio", "higher", "High end of its 95% jackknife interval.", default=None
    )
    contexts_key: str | None = Field(
        default=None,
        description="Hash of corpus, N, window_len, min_position, seed and split: data-side "
        "lifts compare only when equal.",
    )
    num_contexts: int | None = metric("count", None, "Sampled contexts N.", default=None)
    corpus_hash: str | None = None
    effective_rank_last: float | None = metric(
        "dimensionless",
        None,
        "Effective rank exp(−Σ q log q) (q: the normalised eigenvalues) of the last layer's "
        "hidden-state covariance on the sampled contexts.",
        default=None,
    )


def _dig(node: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _number(value: Any) -> float | None:
    """A finite float from a number or an Interval dict; None otherwise."""
    if isinstance(value, dict):
        value = value.get("estimate")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _by_k(mapping: Any, k: int) -> Any:
    """``mapping[k]``; JSON turns the int keys into strings, so accept both."""
    if not isinstance(mapping, dict):
        return None
    return mapping.get(str(k), mapping.get(k))


def _bounds(interval: Any) -> tuple[float | None, float | None]:
    if not isinstance(interval, dict):
        return None, None
    return _number(interval.get("low")), _number(interval.get("high"))


def _surplus_fields(surplus: Any) -> dict[str, Any]:
    interval = _by_k(_dig(surplus, "surplus"), 2)
    low, high = _bounds(interval)
    verdict = read_verdict(surplus, 2)
    capped = _dig(surplus, "capped")
    return {
        "surplus_k2": _number(interval),
        "surplus_k2_low": low,
        "surplus_k2_high": high,
        "surplus_k2_verdict": verdict,
        "surplus_k2_detected": None if verdict is None else verdict == "detected",
        "surplus_k2_upper": _number(_dig(_by_k(_dig(surplus, "bounds"), 2), "high")),
        "surplus_k2_share": _number(_dig(_by_k(_dig(surplus, "ceiling"), 1), "share")),
        "surplus_capped": capped if isinstance(capped, bool) else None,
    }


def _last_layer_entries(entries: Any) -> list[dict[str, Any]]:
    rows = [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    layers = [e["layer"] for e in rows if isinstance(e.get("layer"), int)]
    if not layers:
        return []
    last = max(layers)
    return [e for e in rows if e.get("layer") == last]


def _data_lift(rows: list[dict[str, Any]], kernel: str) -> tuple[float | None, ...]:
    """(lift, low, high) of the data-side ``kernel`` row among ``rows``."""
    row = next((e for e in rows if e.get("side") == "data" and e.get("kernel") == kernel), {})
    low, high = _bounds(row.get("lift_interval"))
    return _number(row.get("lift")), low, high


def _alignment_fields(spectral: Any) -> dict[str, Any]:
    """Last-layer data-side lifts: the model-free same-next-token kernel (the headline) and
    the kernel of the model's own prototypes (labelled; differs between models)."""
    rows = _last_layer_entries(_dig(spectral, "alignment"))
    lin, lin_low, lin_high = _data_lift(rows, "lin")
    proto, proto_low, proto_high = _data_lift(rows, "proto")
    return {
        "alignment_lift_last": lin,
        "alignment_lift_last_low": lin_low,
        "alignment_lift_last_high": lin_high,
        "alignment_kernel": "lin" if lin is not None else None,
        "alignment_lift_proto_last": proto,
        "alignment_lift_proto_last_low": proto_low,
        "alignment_lift_proto_last_high": proto_high,
    }


def contexts_key(payload: dict[str, Any]) -> str | None:
    """Short hash of what fixes the sampled contexts: corpus hash, N, window length, earliest
    position, seed and split scheme. Two results' data-side lifts compare only when equal.
    Results stored before the split setting used the seeded random split."""
    corpus_hash = _dig(payload, "provenance", "corpus", "hash")
    config = _dig(payload, "provenance", "config")
    n = _int(_dig(payload, "contexts", "num_contexts"))
    if not isinstance(corpus_hash, str) or not isinstance(config, dict) or n is None:
        return None
    seed = _dig(payload, "provenance", "seed")
    parts = {
        "corpus": corpus_hash,
        "n": n,
        "window_len": config.get("window_len"),
        "min_position": config.get("min_position"),
        "seed": seed if seed is not None else config.get("seed"),
        "split": config.get("split", "random"),
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return digest[:12]


def _effective_rank_last(spectral: Any) -> float | None:
    rows = _last_layer_entries(_dig(spectral, "representation"))
    return _number(rows[0].get("effective_rank")) if rows else None


def _entropy_fields(entropy: Any) -> dict[str, Any]:
    summary = _dig(entropy, "summary")
    gap = _number(_dig(summary, "calibration_gap"))
    gap_low, gap_high = _bounds(_dig(summary, "calibration_gap"))
    nll_low, nll_high = _bounds(_dig(summary, "mean_nll"))
    mean_entropy = _number(_dig(summary, "mean_entropy"))
    ece = _number(_dig(summary, "ece"))
    if ece is None:
        ece = _number(_dig(entropy, "calibration", "ece"))
    relative = gap / mean_entropy if gap is not None and mean_entropy else None
    return {
        "mean_nll": _number(_dig(summary, "mean_nll")),
        "mean_nll_low": nll_low,
        "mean_nll_high": nll_high,
        "perplexity": _number(_dig(summary, "perplexity")),
        "mean_entropy": mean_entropy,
        "calibration_gap": gap,
        "calibration_gap_low": gap_low,
        "calibration_gap_high": gap_high,
        "calibration_gap_relative": relative,
        "ece": ece,
    }


def headline(payload: dict[str, Any]) -> Headline:
    """Extract the headline numbers; None where a section is absent or not a finite number.

    Paths (AnalysisResult JSON): ``entropy.summary.{mean_nll, perplexity, mean_entropy,
    calibration_gap}`` (with the NLL's and the gap's intervals) and
    ``entropy.calibration.ece``; ``surplus.surplus["2"]`` (Surplus_2 and its interval),
    ``surplus.verdict["2"]`` (older results: from ``surplus.detected["2"]``, else from the
    interval's low > 0), ``surplus.bounds["2"].high``, ``surplus.ceiling["1"].share``,
    ``surplus.capped``; the data-side ``lift`` (and ``lift_interval``) of
    ``spectral.alignment`` at the last layer for kernel ``lin`` (the headline) and ``proto``
    (own prototypes); the ``effective_rank`` of ``spectral.representation`` at the last layer;
    ``provenance.corpus.hash`` and ``contexts.num_contexts``.
    """
    spectral = payload.get("spectral")
    corpus_hash = _dig(payload, "provenance", "corpus", "hash")
    return Headline(
        **_entropy_fields(payload.get("entropy")),
        **_surplus_fields(payload.get("surplus")),
        **_alignment_fields(spectral),
        contexts_key=contexts_key(payload),
        num_contexts=_int(_dig(payload, "contexts", "num_contexts")),
        corpus_hash=corpus_hash if isinstance(corpus_hash, str) else None,
        effective_rank_last=_effective_rank_last(spectral),
    )

"""Types every section of a result shares, and :func:`metric`, which gives a field its unit.

Every numeric field of the result models says what its numbers are in, which way is better
(where one is) and what it means, in its JSON schema: ``x-unit``, ``x-direction`` and
``description``. The OpenAPI document carries them, and the dashboard reads units from there.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Unit = Literal[
    "nats",
    "bits",
    "ratio",  # a quotient of two like quantities (lift, share, R², relative error, fraction)
    "probability",  # a probability or a rate of events (accuracy, agreement, mass)
    "count",  # a number of things (contexts, windows, layers, steps, samples)
    "tokens",  # a number of tokens (lengths, K, positions counted in tokens)
    "seconds",
    "bytes",
    "dimensionless",  # a pure number that is none of the above (perplexity, ranks, β, lr)
    "index",  # a label on an axis (layer ℓ, position t, offset j, seed, version)
    "eigenvalue",  # eigenvalues of a kernel or covariance, and their sums (traces)
]
Direction = Literal["higher", "lower", "zero"]


def metric(
    unit: Unit,
    direction: Direction | None,
    description: str,
    *,
    key_units: dict[str, Unit] | None = None,
    **field: Any,
) -> Any:
    """A pydantic ``Field`` whose JSON schema carries ``x-unit``, ``x-direction`` (when one
    direction is better; "zero": closer to 0 is better) and ``description``.

    Lists, maps, curves and Interval-typed fields carry the unit of their numbers.
    ``key_units``: a map whose keys differ in unit (``x-key-units``, beside the usual one).
    ``field``: the other ``Field`` arguments (``default``, bounds).
    """
    extra: dict[str, Any] = {"x-unit": unit}
    if direction is not None:
        extra["x-direction"] = direction
    if key_units:
        extra["x-key-units"] = dict(key_units)
    return Field(description=description, json_schema_extra=extra, **field)


def bootstrap_samples_field() -> Any:
    """The bootstrap resample count, a knob of the config and of the surplus suite alike."""
    return metric(
        "count",
        None,
        "Bootstrap resamples (over windows) per interval.",
        default=1000,
        ge=50,
        le=100_000,
    )


# The split of windows into probe-train / val / test is one setting of AnalysisConfig
# (train_fraction, val_fraction, split) that every suite uses. Suites once had their own
# fractions (surplus before cross-fitting, spectral until the split became shared).
RETIRED_SPLIT_KEYS = ("train_fraction", "val_fraction")
SPLIT_SETTING = "train_fraction, val_fraction and split at the top level of the config"


def drop_retired_split(values: Any) -> Any:
    """A suite config's stored values without the retired split keys (so old configs load).

    Submissions never get here with them: ``preset_config`` refuses them by name.
    """
    if isinstance(values, dict):
        return {k: v for k, v in values.items() if k not in RETIRED_SPLIT_KEYS}
    return values


class Interval(BaseModel):
    """A point estimate with a 95% interval (bootstrap over windows unless noted)."""

    estimate: float
    low: float
    high: float


class PositionCurve(BaseModel):
    """Mean of a per-token quantity by context position, with a 95% bootstrap band."""

    positions: list[int] = metric("index", None, "Context position t (0 = first token).")
    mean: list[float]
    low: list[float]
    high: list[float]

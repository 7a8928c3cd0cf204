"""Per-token view data: what the Tokens tab shows for one window of an analysed corpus.

The capture pass stores, beside the per-token statistics, the model's top-k next tokens with
their probabilities (quantised to 16 bits, rounded down so that every stored top-k sums to at
most 1); the pipeline stores the windows' token ids; the lens stores its top-1 per layer at
the sampled contexts. This module turns those arrays into one window's view; it is numpy-only
so the API serves it without torch (the capture-side top-k is in ``analysis.tokens``). It knows
no tokenizer: the job decodes the ids it needs into a vocabulary table (``vocab_ids`` /
``vocab_text``) through a ``decode`` callable handed in from outside.

Convention: everything shown on token ``x_t`` describes the prediction made *after reading*
``x_t`` (from the hidden state at position t) of the token that follows, ``x_{t+1}``: its
NLL, the entropy of the predictive distribution, whether the top-1 was right, the top-k,
and at the sampled contexts (whose hidden state is ``h_t``) the lens and surplus probes. The
window's last token has no prediction inside the window.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

TOPK = 5
Q16 = 65535  # top-k probabilities are stored as floor(p · 65535) in uint16

# Arrays this module writes or reads (names in AnalysisOutput.arrays).
TOPK_IDS = "topk_ids"  # int32 [windows, T−1, TOPK]
TOPK_PROBS = "topk_probs_q16"  # uint16 [windows, T−1, TOPK]: floor(p · 65535)
TOKEN_IDS = "token_ids"  # int32 [windows, T]
VOCAB_IDS = "vocab_ids"  # int32 [U] sorted
VOCAB_TEXT = "vocab_text"  # unicode [U]: decoded text of each id in vocab_ids
LENS_TOP1 = "lens_top1"  # int32 [layers, N]
LENS_TOP1_PROB = "lens_top1_prob"  # float32 [layers, N]

Kind = Literal["sequential", "diverging", "binary"]


class QuantityInfo(BaseModel):
    """How one per-token quantity is read and drawn."""

    key: str
    label: str
    unit: str
    kind: Kind
    description: str
    sampled_only: bool = Field(description="Defined only at the N sampled contexts.")
    help: str = Field(description="Anchor of docs/methods.md explaining it.")


class Scale(BaseModel):
    """The colour scale's domain, shared by every window of the result (so colours compare).

    Sequential: the 1st–99th percentile [low, high]; diverging: [−bound, bound] around 0 (bound
    the 99th percentile of |value|); binary: [0, 1]. Values beyond the domain take the end
    colour (the legend says ≤ low / ≥ high).
    """

    low: float
    high: float
    clipped_low: bool
    clipped_high: bool


class TopToken(BaseModel):
    id: int
    text: str
    prob: float


class LensPick(BaseModel):
    layer: int
    id: int
    text: str
    prob: float | None


class SampledContext(BaseModel):
    """What the lens and the surplus probes say at one sampled context (h_t at ``position``)."""

    position: int
    split: str
    lens_top1: list[LensPick] = Field(default_factory=list)


class TokenWindow(BaseModel):
    """One window's tokens and every quantity the view can colour them by."""

    window: int
    num_windows: int
    window_len: int
    tokens: list[str]
    token_ids: list[int]
    quantities: list[QuantityInfo]
    values: dict[str, list[float | None]] = Field(
        description="key → one value per token (None: not defined at that token)."
    )
    scales: dict[str, Scale]
    topk: list[list[TopToken]] = Field(
        description="Per token t < T−1: the model's top-k next tokens after reading x_t."
    )
    sampled: list[SampledContext]
    lens_layers: list[int]
    decoded: bool = Field(description="False when no vocabulary table was stored (ids shown).")
    notes: list[str] = Field(default_factory=list)


def dequantize_probs(stored: np.ndarray) -> np.ndarray:
    return stored.astype(np.float64) / Q16


def used_ids(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Every token id a token view can show: the windows, the top-k and the lens picks."""
    parts = [
        arrays[name].reshape(-1).astype(np.int64)
        for name in (TOKEN_IDS, TOPK_IDS, LENS_TOP1)
        if name in arrays
    ]
    if not parts:
        return np.zeros(0, dtype=np.int32)
    return np.unique(np.concatenate(parts)).astype(np.int32)


def vocabulary_table(
    arrays: dict[str, np.ndarray], decode: Callable[[int], str]
) -> dict[str, np.ndarray]:
    """``vocab_ids`` / ``vocab_text`` for the ids in use (decoded one id at a time)."""
    ids = used_ids(arrays)
    texts = [decode(int(i)) for i in ids]
    width = max((len(t) for t in texts), default=1)
    return {
        VOCAB_IDS: ids,
        VOCAB_TEXT: np.asarray(texts, dtype=f"<U{max(1, width)}"),
    }


def symbol_name(token_id: int) -> str:
    """Synthetic sources' symbols (the lab trainer's tokenizer names them the same way)."""
    return f"s{token_id}"


def token_storage_bytes(arrays: dict[str, np.ndarray]) -> int:
    """Uncompressed bytes of what the token view adds to a result's arrays."""
    names = (TOPK_IDS, TOPK_PROBS, TOKEN_IDS, VOCAB_IDS, VOCAB_TEXT, LENS_TOP1, LENS_TOP1_PROB)
    return sum(int(arrays[n].nbytes) for n in names if n in arrays)


QUANTITIES: tuple[QuantityInfo, ...] = (
    QuantityInfo(
        key="nll",
        label="NLL of the next token",
        unit="nats",
        kind="sequential",
        description="−log p(x_{t+1} | x_≤t): how surprised the model is by what follows.",
        sampled_only=False,
        help="nll",
    ),
    QuantityInfo(
        key="entropy",
        label="Entropy of the prediction",
        unit="nats",
        kind="sequential",
        description="H(p(· | x_≤t)): how spread the model's next-token distribution is.",
        sampled_only=False,
        help="entropy",
    ),
    QuantityInfo(
        key="nll_minus_entropy",
        label="NLL − entropy",
        unit="nats",
        kind="diverging",
        description="Above 0: more surprised than the model expected (over-confident here); "
        "below 0: less. Its mean is the calibration gap.",
        sampled_only=False,
        help="calibration",
    ),
    QuantityInfo(
        key="top1_hit",
        label="Top-1 hit",
        unit="",
        kind="binary",
        description="1 when the model's most likely next token is the one that follows.",
        sampled_only=False,
        help="calibration",
    ),
)


def _lens_quantities(layers: list[int]) -> list[QuantityInfo]:
    return [
        QuantityInfo(
            key=f"lens_kl_l{layer}",
            label=f"Lens KL at layer {layer}",
            unit="nats",
            kind="sequential",
            description=f"KL(p^L ‖ p^{layer}): how far the logit lens at layer {layer} is from "
            "the model's own prediction (sampled contexts only).",
            sampled_only=True,
            help="lens",
        )
        for layer in layers
    ]


def _gain_quantities(keys: list[str]) -> list[QuantityInfo]:
    out = []
    for key in keys:
        j = key.removeprefix("surplus_gain_j")
        out.append(
            QuantityInfo(
                key=key,
                label=f"Surplus probe gain, offset {j}",
                unit="nats",
                kind="diverging",
                description=f"No-state − with-state test cross-entropy of x_(t+1+{j}) at this "
                "context: how much the hidden state helped the probe (test contexts only).",
                sampled_only=True,
                help="surplus-terms",
            )
        )
    return out


def _gain_keys(arrays: dict[str, np.ndarray]) -> list[str]:
    keys = [k for k in arrays if k.startswith("surplus_gain_j")]
    return sorted(keys, key=lambda k: int(k.removeprefix("surplus_gain_j") or 0))


def _scale(values: np.ndarray, kind: Kind) -> Scale:
    """The colour domain from the whole result: 1st–99th percentile (robust to a few outliers)."""
    finite = values[np.isfinite(values)]
    if kind == "binary":
        return Scale(low=0.0, high=1.0, clipped_low=False, clipped_high=False)
    if finite.size == 0:
        return Scale(low=0.0, high=1.0, clipped_low=False, clipped_high=False)
    if kind == "diverging":
        bound = float(np.percentile(np.abs(finite), 99))
        bound = bound if bound > 0 else float(np.abs(finite).max() or 1.0)
        return Scale(
            low=-bound,
            high=bound,
            clipped_low=bool(finite.min() < -bound),
            clipped_high=bool(finite.max() > bound),
        )
    # 1st–99th percentile, not 0-based: a near-uniform model's NLLs all sit near log |V|, and
    # a scale from 0 would paint every token the same colour.
    low, high = (float(x) for x in np.percentile(finite, [1, 99]))
    if high <= low:
        high = low + 1.0
    return Scale(
        low=low,
        high=high,
        clipped_low=bool(finite.min() < low),
        clipped_high=bool(finite.max() > high),
    )


def _as_list(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values.astype(np.float64)]


class TokenViewError(ValueError):
    """The result cannot give a token view (arrays missing, window out of range)."""


_SPLIT_NAMES = ("train", "val", "test")


class _Columns:
    """The quantities a view colours by, with their per-token values and whole-result scales."""

    def __init__(self) -> None:
        self.quantities: list[QuantityInfo] = []
        self.values: dict[str, list[float | None]] = {}
        self.scales: dict[str, Scale] = {}

    def add(self, info: QuantityInfo, column: np.ndarray, whole: np.ndarray) -> None:
        """``column``: this window's values; ``whole``: every value of the result (the scale)."""
        self.quantities.append(info)
        self.values[info.key] = _as_list(column)
        self.scales[info.key] = _scale(whole, info.kind)


def _window_shape(arrays: dict[str, np.ndarray], window: int) -> tuple[int, int]:
    """(windows, window length) of the result, or TokenViewError if ``window`` is not in it."""
    if TOKEN_IDS not in arrays or "nll" not in arrays:
        raise TokenViewError(
            "this result has no stored token ids (it predates the token view): re-run the job "
            "to get one"
        )
    n_windows, window_len = arrays[TOKEN_IDS].shape
    if not 0 <= window < n_windows:
        raise TokenViewError(f"window {window} out of range: the result has {n_windows} windows")
    return int(n_windows), int(window_len)


def _token_text(arrays: dict[str, np.ndarray]) -> tuple[Callable[[int], str], bool]:
    """(id → text, whether a vocabulary table was stored); undecoded ids read ``#id``."""
    lookup: dict[int, str] = {}
    decoded = VOCAB_IDS in arrays and VOCAB_TEXT in arrays
    if decoded:
        lookup = dict(zip(arrays[VOCAB_IDS].tolist(), arrays[VOCAB_TEXT].tolist(), strict=True))

    def text(token_id: int) -> str:
        return lookup.get(token_id, f"#{token_id}")

    return text, decoded


def _every_token_columns(arrays: dict[str, np.ndarray], window: int, columns: _Columns) -> None:
    """NLL, entropy, their difference and the top-1 hit: defined at every token but the last."""
    whole = {
        "nll": arrays["nll"].astype(np.float64),
        "entropy": arrays["entropy"].astype(np.float64),
        "top1_hit": arrays["top1_hit"].astype(np.float64),
    }
    whole["nll_minus_entropy"] = whole["nll"] - whole["entropy"]
    pad = np.full(1, np.nan)  # the last token predicts nothing inside the window
    for info in QUANTITIES:
        columns.add(info, np.concatenate([whole[info.key][window], pad]), whole[info.key])


def _lens_picks(
    arrays: dict[str, np.ndarray], row: int, layers: list[int], text: Callable[[int], str]
) -> list[LensPick]:
    """The lens's top-1 at each layer for sampled context ``row`` (none if not stored)."""
    top1 = arrays.get(LENS_TOP1)
    if top1 is None:
        return []
    top1_prob = arrays.get(LENS_TOP1_PROB)
    return [
        LensPick(
            layer=layer,
            id=int(top1[i, row]),
            text=text(int(top1[i, row])),
            prob=float(top1_prob[i, row]) if top1_prob is not None else None,
        )
        for i, layer in enumerate(layers)
    ]


def _sampled_columns(
    arrays: dict[str, np.ndarray],
    rows: np.ndarray,
    positions: np.ndarray,
    window_len: int,
    layers: list[int],
    columns: _Columns,
) -> list[str]:
    """Lens KL per layer and surplus gains per offset at the window's sampled contexts; notes."""

    def scatter(values: np.ndarray) -> np.ndarray:
        column = np.full(window_len, np.nan)
        column[positions] = values
        return column

    if "lens_kl_to_last" in arrays and layers:
        kl = arrays["lens_kl_to_last"].astype(np.float64)
        for i, info in enumerate(_lens_quantities(layers)):
            columns.add(info, scatter(kl[i, rows]), kl[i])
    gains = _gain_keys(arrays)
    for info in _gain_quantities(gains):
        gain = arrays[info.key].astype(np.float64)
        columns.add(info, scatter(gain[rows]), gain)
    if not gains:
        return ["Surplus probes' per-context gains were not stored with this result."]
    return []


def _sampled_contexts(
    arrays: dict[str, np.ndarray],
    window: int,
    window_len: int,
    text: Callable[[int], str],
    columns: _Columns,
) -> tuple[list[SampledContext], list[int], list[str]]:
    """(the window's sampled contexts, lens layers, notes); adds the sampled-only columns."""
    if "context_window" not in arrays or "context_position" not in arrays:
        return [], [], []
    positions = arrays["context_position"].astype(np.int64)
    rows = np.flatnonzero(arrays["context_window"].astype(np.int64) == window)
    split = arrays.get("context_split")
    layers = [int(x) for x in arrays.get("lens_layers", np.zeros(0, np.int32)).tolist()]
    sampled = [
        SampledContext(
            position=int(positions[r]),
            split=_SPLIT_NAMES[int(split[r])] if split is not None else "?",
            lens_top1=_lens_picks(arrays, int(r), layers, text),
        )
        for r in rows
    ]
    notes = _sampled_columns(arrays, rows, positions[rows], window_len, layers, columns)
    return sampled, layers, notes


def _top_tokens(
    arrays: dict[str, np.ndarray], window: int, text: Callable[[int], str]
) -> list[list[TopToken]] | None:
    """The model's top-k next tokens after each token of the window; None if not stored."""
    if TOPK_IDS not in arrays or TOPK_PROBS not in arrays:
        return None
    ids = arrays[TOPK_IDS][window]
    probs = dequantize_probs(arrays[TOPK_PROBS][window])
    return [
        [
            TopToken(id=int(i), text=text(int(i)), prob=float(p))
            for i, p in zip(row_ids, row_probs, strict=True)
        ]
        for row_ids, row_probs in zip(ids, probs, strict=True)
    ]


def window_view(arrays: dict[str, np.ndarray], window: int) -> TokenWindow:
    """The token view of ``window`` from a result's arrays."""
    n_windows, window_len = _window_shape(arrays, window)
    text, decoded = _token_text(arrays)
    columns = _Columns()
    _every_token_columns(arrays, window, columns)
    sampled, lens_layers, notes = _sampled_contexts(arrays, window, window_len, text, columns)
    topk = _top_tokens(arrays, window, text)
    if topk is None:
        notes.append("Top-k next tokens were not stored with this result.")
    if not decoded:
        notes.append("No vocabulary table was stored: tokens are shown by id.")
    ids = arrays[TOKEN_IDS][window].astype(np.int64).tolist()
    return TokenWindow(
        window=window,
        num_windows=n_windows,
        window_len=window_len,
        tokens=[text(i) for i in ids],
        token_ids=ids,
        quantities=columns.quantities,
        values=columns.values,
        scales=columns.scales,
        topk=topk or [],
        sampled=sampled,
        lens_layers=lens_layers,
        decoded=decoded,
        notes=notes,
    )

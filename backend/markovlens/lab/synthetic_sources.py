"""The registry of synthetic sources (``synthetic:<name>`` corpora) with exact answers.

Each source is a hidden Markov process with a name, a seed (which fixes its parameters), a
description and a closed-form entropy rate where one exists. ``sample_windows`` returns token
windows and their ExactReference — the contract the corpora package relies on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import torch

from markovlens.analysis.exact import ExactReference
from markovlens.lab.exact import build_reference, entropy, entropy_rate_mc
from markovlens.lab.hmm import HiddenMarkovProcess, markov_chain


@dataclass(frozen=True)
class SyntheticSource:
    """A named process with exact answers. ``closed_form_entropy_rate`` is None if unknown."""

    name: str
    description: str
    seed: int
    process: HiddenMarkovProcess
    closed_form_entropy_rate: float | None = None
    closed_form_surplus: dict[int, float] = field(default_factory=dict)
    params: dict[str, float] = field(default_factory=dict)
    # Whether the oracle's k-step log-marginals make the exact surplus reachable by the
    # surplus suite's affine probes (else the oracle's estimate is only a lower bound).
    affine_sufficient: bool = True

    @property
    def vocab_size(self) -> int:
        return self.process.vocab_size

    def entropy_rate(self) -> tuple[float, float]:
        """(entropy rate in nats/token, its standard error: 0 for a closed form)."""
        if self.closed_form_entropy_rate is not None:
            return self.closed_form_entropy_rate, 0.0
        return _mc_entropy_rate(self.name)

    def sample_tokens(self, num_windows: int, window_len: int, seed: int) -> np.ndarray:
        """Windows of the stationary process, [num_windows, window_len] int64."""
        rng = np.random.default_rng([self.seed, seed])
        return self.process.sample(num_windows, window_len, rng)

    def sample_windows(
        self, num_windows: int, window_len: int, seed: int
    ) -> tuple[torch.Tensor, ExactReference]:
        """Token windows and their exact reference (true next-token laws, rates, surplus)."""
        tokens = self.sample_tokens(num_windows, window_len, seed)
        reference = build_reference(
            self.name, self.description, self.process, tokens, self.entropy_rate(), seed=seed
        )
        return torch.from_numpy(tokens).long(), reference


def _markov() -> SyntheticSource:
    seed, v = 7, 8
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(v, 0.5), size=v)
    process = markov_chain(p)
    rate = float((process.stationary * entropy(p)).sum())
    return SyntheticSource(
        name="markov",
        description=(
            "First-order Markov chain on 8 symbols, rows ~ Dirichlet(0.5) (seed 7). The next "
            "token depends only on the current one, so the surplus is exactly 0 for every K "
            "and H*_t equals the entropy rate at every position."
        ),
        seed=seed,
        process=process,
        closed_form_entropy_rate=rate,
        closed_form_surplus={2: 0.0, 3: 0.0, 4: 0.0},
        params={"vocab_size": v, "dirichlet_alpha": 0.5},
    )


def _mess3(x: float = 0.05, a: float = 0.85) -> SyntheticSource:
    b, y = (1 - a) / 2, 1 - 2 * x
    t = np.empty((3, 3, 3))
    for sym in range(3):
        for s in range(3):
            for s2 in range(3):
                weight = a if s2 == sym else b
                t[sym, s, s2] = weight * (y if s == s2 else x)
    return SyntheticSource(
        name="mess3",
        description=(
            f"Mess3 (x={x}, α={a}): 3 hidden states, 3 symbols; belief states never "
            "synchronise and fill a fractal in the 2-simplex (non-trivial belief geometry). "
            "Entropy rate by Monte Carlo over exact H*_t."
        ),
        seed=3,
        process=HiddenMarkovProcess(t),
        params={"x": x, "alpha": a},
        # log P(y_{t+2} | η, y_{t+1}) is not additive in (η, y_{t+1}): affine probes fall short.
        affine_sufficient=False,
    )


def _lookahead(keys: int = 4, eps: float = 0.05) -> SyntheticSource:
    """Key k, then noise n (independent of k), then echo of k (corrupted with prob. eps)."""
    # States: 0 = "emit key"; 1+k = "emit noise, remembering k"; 1+keys+k = "emit echo of k".
    n_states, v = 1 + 2 * keys, 3 * keys
    t = np.zeros((v, n_states, n_states))
    for k in range(keys):
        t[k, 0, 1 + k] = 1 / keys
        for n in range(keys):
            t[keys + n, 1 + k, 1 + keys + k] = 1 / keys
        for e in range(keys):
            t[2 * keys + e, 1 + keys + k, 0] = (1 - eps) if e == k else eps / (keys - 1)
    h_echo = -(1 - eps) * math.log(1 - eps) - eps * math.log(eps / (keys - 1))
    surplus = (math.log(keys) - h_echo) / 3
    return SyntheticSource(
        name="lookahead",
        description=(
            f"Period-3 source: a key (1 of {keys}), a noise symbol independent of the key, then "
            f"an echo of the key (wrong with prob. {eps}). At a key the next token reveals "
            "nothing about the token after it, which the context fixes: large surplus, "
            f"(log {keys} − H_echo)/3 = {surplus:.4f} nats for K ≥ 2."
        ),
        seed=11,
        process=HiddenMarkovProcess(t),
        closed_form_entropy_rate=(2 * math.log(keys) + h_echo) / 3,
        closed_form_surplus={2: surplus, 3: surplus, 4: surplus},
        params={"keys": keys, "eps": eps},
    )


_BUILDERS: dict[str, Callable[[], SyntheticSource]] = {
    "markov": _markov,
    "mess3": _mess3,
    "lookahead": _lookahead,
}


def source_names() -> list[str]:
    """Names accepted by ``get_source`` (and as ``synthetic:<name>``)."""
    return sorted(_BUILDERS)


def get_source(name: str) -> SyntheticSource:
    """The source called ``name`` (a ``synthetic:`` prefix is accepted). KeyError if unknown."""
    key = name.removeprefix("synthetic:")
    if key not in _BUILDERS:
        raise KeyError(f"unknown synthetic source {name!r}; choose one of {source_names()}")
    return _build(key)


@cache
def _build(key: str) -> SyntheticSource:
    return _BUILDERS[key]()


@cache
def _mc_entropy_rate(name: str) -> tuple[float, float]:
    return entropy_rate_mc(get_source(name).process)

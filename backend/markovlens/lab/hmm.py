"""Edge-emitting hidden Markov processes: sampling and the forward algorithm (exact filtering).

A process is a stack of matrices ``T[y][s, s'] = P(emit y, move to s' | in s)``. A first-order
Markov chain is the special case "state = last symbol"; mess3 and the lookahead source are
proper HMMs. Everything is float64 numpy: these are the ground-truth numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class HiddenMarkovProcess:
    """``transitions[y, s, s']`` = P(emit y and go to s' | s); rows of Σ_y T[y] sum to 1."""

    transitions: np.ndarray  # [V, S, S]

    def __post_init__(self) -> None:
        t = np.asarray(self.transitions, dtype=np.float64)
        if t.ndim != 3 or t.shape[1] != t.shape[2]:
            raise ValueError(f"transitions must be [V, S, S], got {t.shape}")
        if (t < 0).any() or not np.allclose(t.sum(axis=(0, 2)), 1.0, atol=1e-12):
            raise ValueError("each state's outgoing probabilities must be >= 0 and sum to 1")
        object.__setattr__(self, "transitions", t)

    @property
    def vocab_size(self) -> int:
        return int(self.transitions.shape[0])

    @property
    def num_states(self) -> int:
        return int(self.transitions.shape[1])

    @cached_property
    def state_matrix(self) -> np.ndarray:
        """M[s, s'] = P(s' | s), symbols summed out."""
        return self.transitions.sum(axis=0)

    @cached_property
    def emission(self) -> np.ndarray:
        """E[s, y] = P(next symbol y | state s)."""
        return self.transitions.sum(axis=2).T.copy()

    @cached_property
    def stationary(self) -> np.ndarray:
        """The stationary state distribution π (π M = π); assumes one recurrent class."""
        vals, vecs = np.linalg.eig(self.state_matrix.T)
        pi = np.real(vecs[:, np.argmin(np.abs(vals - 1.0))])
        pi = np.abs(pi) / np.abs(pi).sum()
        return pi

    def lookahead_emission(self, j: int) -> np.ndarray:
        """[S, V]: P(symbol j steps ahead | state) for j >= 1 (j = 1 is ``emission``)."""
        return np.linalg.matrix_power(self.state_matrix, j - 1) @ self.emission

    def next_probs(self, belief: np.ndarray) -> np.ndarray:
        """P(next symbol | belief) for beliefs [..., S] -> [..., V]."""
        return belief @ self.emission

    def update(self, belief: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """Bayes update of beliefs [N, S] on observed symbols [N] (the forward algorithm step)."""
        unnorm = np.einsum("ns,nst->nt", belief, self.transitions[symbols])
        norm = unnorm.sum(axis=1, keepdims=True)
        if (norm <= 0).any():
            raise ValueError("observed a symbol of probability zero under the process")
        return unnorm / norm

    def filter(self, tokens: np.ndarray) -> np.ndarray:
        """Beliefs after each token: [n, L] tokens -> [n, L, S]; beliefs[:, t] conditions on
        tokens[:, :t+1], starting from the stationary distribution."""
        tokens = np.asarray(tokens, dtype=np.int64)
        n, length = tokens.shape
        out = np.empty((n, length, self.num_states))
        belief = np.broadcast_to(self.stationary, (n, self.num_states)).copy()
        for t in range(length):
            belief = self.update(belief, tokens[:, t])
            out[:, t] = belief
        return out

    def sample(self, num: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """``num`` sequences of ``length`` symbols from the stationary process: [num, length]."""
        n_sym, n_states = self.vocab_size, self.num_states
        # Joint (symbol, next state) table per state, flattened for one draw per step.
        joint = self.transitions.transpose(1, 0, 2).reshape(n_states, n_sym * n_states)
        cum = np.cumsum(joint, axis=1)
        cum[:, -1] = 1.0 + 1e-9  # guard against rounding at the top end
        states = rng.choice(n_states, size=num, p=self.stationary)
        out = np.empty((num, length), dtype=np.int64)
        for t in range(length):
            u = rng.random(num)
            idx = (u[:, None] >= cum[states]).sum(axis=1)
            out[:, t] = idx // n_states
            states = idx % n_states
        return out

    def block_probs(self, k: int) -> np.ndarray:
        """Stationary probability of every block of k symbols: array of shape [V] * k."""
        alpha = self.stationary[None, :]  # [blocks, S]
        for _ in range(k):
            alpha = np.einsum("bs,yst->byt", alpha, self.transitions).reshape(-1, self.num_states)
        return alpha.sum(axis=1).reshape((self.vocab_size,) * k)


def markov_chain(matrix: np.ndarray) -> HiddenMarkovProcess:
    """A first-order Markov chain P[a, b] = P(next b | last a) as a process: state = last symbol."""
    p = np.asarray(matrix, dtype=np.float64)
    v = p.shape[0]
    t = np.zeros((v, v, v))
    for y in range(v):
        t[y, :, y] = p[:, y]  # emitting y moves the chain to state y
    return HiddenMarkovProcess(t)

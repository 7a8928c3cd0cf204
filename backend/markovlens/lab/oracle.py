"""An oracle causal LM whose hidden state is the exact belief state of a synthetic source.

It has the Llama layout the analysis introspects (``model.embed_tokens``, ``model.layers``,
``model.norm``, ``lm_head``; ``config.model_type == "llama"``), so the capture, lens, surplus
and spectral suites run on it unchanged. Its representation is known to be sufficient:

- layer 0 (embedding output): one-hot of the current token (sufficient only for a Markov chain);
- layer 1 (the one block, the forward algorithm): ``[one-hot x_t ; η_t ; log p(y_{t+j} | x_≤t)
  for j = 1..3]`` where η_t is the exact belief over hidden states;
- final norm: identity; ``lm_head`` reads the ``log p(y_{t+1} | x_≤t)`` block, so the model's
  predictive law *is* the true one (up to a 1e-12 floor on zero probabilities).

The k-step-ahead marginals make future information linearly readable, which is what the
surplus suite's affine probes need to reach the exact value on the lookahead source.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import LlamaConfig
from transformers.modeling_outputs import CausalLMOutputWithPast

from markovlens.lab.hmm import HiddenMarkovProcess

LOOKAHEAD = 3  # log-marginals of y_{t+1}, y_{t+2}, y_{t+3} in the hidden state
_LOG_FLOOR = 1e-12


class _Layout:
    """Slices of the oracle hidden vector."""

    def __init__(self, vocab: int, states: int) -> None:
        self.token = slice(0, vocab)
        self.belief = slice(vocab, vocab + states)
        self.ahead = [
            slice(vocab + states + j * vocab, vocab + states + (j + 1) * vocab)
            for j in range(LOOKAHEAD)
        ]
        self.width = vocab + states + LOOKAHEAD * vocab


class BeliefBlock(nn.Module):
    """The forward algorithm as a 'transformer block': reads tokens from the one-hot slice."""

    def __init__(self, process: HiddenMarkovProcess, layout: _Layout) -> None:
        super().__init__()
        self.layout = layout
        self.register_buffer("transitions", torch.from_numpy(process.transitions))  # [V, S, S]
        self.register_buffer("stationary", torch.from_numpy(process.stationary))
        ahead = [process.lookahead_emission(j + 1) for j in range(LOOKAHEAD)]
        self.register_buffer("ahead", torch.stack([torch.from_numpy(a) for a in ahead]))

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        tokens = hidden_states[..., self.layout.token].argmax(dim=-1)  # [B, T]
        batch, length = tokens.shape
        trans, stationary, ahead = self._buffers_typed()
        belief = stationary.expand(batch, -1)
        beliefs = []
        for t in range(length):
            unnorm = torch.einsum("bs,bst->bt", belief, trans[tokens[:, t]])
            belief = unnorm / unnorm.sum(dim=1, keepdim=True)
            beliefs.append(belief)
        eta = torch.stack(beliefs, dim=1)  # [B, T, S]
        parts = [hidden_states[..., self.layout.token].to(torch.float64), eta]
        for j in range(LOOKAHEAD):
            parts.append(torch.log((eta @ ahead[j]).clamp_min(_LOG_FLOOR)))
        return torch.cat(parts, dim=-1).to(hidden_states.dtype)

    def _buffers_typed(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(transitions, stationary, k-step emissions) as float64 tensors."""
        bufs = dict(self.named_buffers())
        return (
            bufs["transitions"].double(),
            bufs["stationary"].double(),
            bufs["ahead"].double(),
        )


class _Backbone(nn.Module):
    def __init__(self, process: HiddenMarkovProcess, layout: _Layout) -> None:
        super().__init__()
        v = process.vocab_size
        self.embed_tokens = nn.Embedding(v, layout.width)
        with torch.no_grad():
            self.embed_tokens.weight.zero_()
            self.embed_tokens.weight[:, layout.token] = torch.eye(v)
        self.layers = nn.ModuleList([BeliefBlock(process, layout)])
        self.norm = nn.Identity()


class OracleLM(nn.Module):
    """A causal LM in form whose last hidden state is a sufficient statistic (see module doc)."""

    def __init__(self, process: HiddenMarkovProcess) -> None:
        super().__init__()
        self.layout = _Layout(process.vocab_size, process.num_states)
        self.config = LlamaConfig(
            vocab_size=process.vocab_size,
            hidden_size=self.layout.width,
            intermediate_size=self.layout.width,
            num_hidden_layers=1,
            num_attention_heads=1,
            num_key_value_heads=1,
            head_dim=2,  # unused (no attention); RoPE validation wants an even head dimension
            tie_word_embeddings=False,
        )
        self.model = _Backbone(process, self.layout)
        self.lm_head = nn.Linear(self.layout.width, process.vocab_size, bias=False)
        with torch.no_grad():
            self.lm_head.weight.zero_()
            self.lm_head.weight[:, self.layout.ahead[0]] = torch.eye(process.vocab_size)
        self.requires_grad_(False)
        self.eval()

    def get_input_embeddings(self) -> nn.Module:
        return self.model.embed_tokens

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def forward(
        self,
        input_ids: torch.Tensor,
        output_hidden_states: bool = False,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        hidden = self.model.embed_tokens(input_ids)
        states = [hidden]
        for layer in self.model.layers:
            hidden = layer(hidden)
            states.append(hidden)
        hidden = self.model.norm(hidden)
        logits = self.lm_head(hidden)
        return CausalLMOutputWithPast(
            logits=logits, hidden_states=tuple(states) if output_hidden_states else None
        )

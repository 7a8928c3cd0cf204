"""Train a tiny Llama on a synthetic source and save Hugging Face checkpoints along the way.

Every checkpoint directory is a complete ``local:`` model: safetensors weights, config, a
WordLevel tokenizer over the source's symbols ("s0".."s{V−1}") and ``markovlens.json``
({"run_name", "training_step", "source"}) so the loader records where in training it is.
Fresh windows are drawn from the source at every step (no data is seen twice).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, Field, field_validator
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from transformers.utils import logging as hf_logging

from markovlens.lab.synthetic_sources import get_source

MANIFEST = "markovlens.json"


class TrainConfig(BaseModel):
    """One training run. Defaults train in well under a minute on two CPU cores."""

    source: str = Field(description="synthetic:<name> or <name>")
    steps: int = Field(default=400, ge=1)
    checkpoints: list[int] = Field(default_factory=lambda: [0, 25, 50, 100, 200, 400])
    out_dir: Path = Path("data/lab")
    run_name: str | None = None
    seed: int = Field(default=0, ge=0)
    batch_size: int = Field(default=32, ge=1)
    window_len: int = Field(default=64, ge=8)
    lr: float = Field(default=3e-3, gt=0)
    warmup_steps: int = Field(default=20, ge=0)
    hidden_size: int = Field(default=64, ge=8)
    num_layers: int = Field(default=2, ge=1)
    num_heads: int = Field(default=4, ge=1)
    threads: int = Field(
        default=1,
        ge=1,
        description="Torch CPU threads: one is fastest for these matrix sizes and does not "
        "collapse when the machine is shared (measured: 43 s vs > 150 s at load 16).",
    )

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        get_source(value)  # KeyError with the list of names if unknown
        return "synthetic:" + value.removeprefix("synthetic:")

    def resolved_run_name(self) -> str:
        return self.run_name or f"{self.source.removeprefix('synthetic:')}-seed{self.seed}"

    def checkpoint_steps(self) -> list[int]:
        """Sorted distinct checkpoint steps within [0, steps]; the final step always included."""
        return sorted({s for s in self.checkpoints if 0 <= s <= self.steps} | {self.steps})


class Checkpoint(BaseModel):
    step: int
    path: Path
    train_loss: float | None = Field(description="mean loss over the steps since the last one")


class TrainRun(BaseModel):
    run_name: str
    source: str
    entropy_rate: float
    checkpoints: list[Checkpoint]
    seconds: float


def symbol_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    """Whitespace-separated symbols "s0".."s{V−1}", ids 0..V−1 (no special tokens)."""
    vocab = {f"s{i}": i for i in range(vocab_size)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##")  # joins symbols back with spaces
    return PreTrainedTokenizerFast(tokenizer_object=tok)


def tiny_llama(vocab_size: int, cfg: TrainConfig) -> LlamaForCausalLM:
    """A freshly initialised tiny Llama (seeded by ``cfg.seed``)."""
    torch.manual_seed(cfg.seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=cfg.hidden_size,
        intermediate_size=2 * cfg.hidden_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads,
        max_position_embeddings=max(cfg.window_len, 64),
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
    )
    return LlamaForCausalLM(config)


def _lr_factor(step: int, cfg: TrainConfig) -> float:
    # Linear warm-up then cosine decay to 10%: stable on tiny models with a large learning rate.
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def save_checkpoint(
    model: LlamaForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    path: Path,
    *,
    run_name: str,
    step: int,
    source: str,
) -> None:
    """Weights (safetensors), config, tokenizer and the markovlens.json manifest."""
    path.mkdir(parents=True, exist_ok=True)
    hf_logging.disable_progress_bar()  # no "Writing model shards" bar per checkpoint
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    manifest = {"run_name": run_name, "training_step": step, "source": source}
    (path / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def train(cfg: TrainConfig, log: Callable[[str], None] | None = None) -> TrainRun:
    """Train per ``cfg``, saving a checkpoint at each of ``cfg.checkpoint_steps()``."""
    with torch_threads(cfg.threads):
        return _train(cfg, log)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run with ``count`` intra-op threads, restoring the previous setting afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _train(cfg: TrainConfig, log: Callable[[str], None] | None) -> TrainRun:
    say = log or (lambda _msg: None)
    source = get_source(cfg.source)
    run_name = cfg.resolved_run_name()
    run_dir = cfg.out_dir / run_name
    tokenizer = symbol_tokenizer(source.vocab_size)
    model = tiny_llama(source.vocab_size, cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, cfg))
    rng = np.random.default_rng([source.seed, cfg.seed, 1])
    wanted = cfg.checkpoint_steps()
    checkpoints: list[Checkpoint] = []
    losses: list[float] = []
    started = time.perf_counter()

    def checkpoint(step: int) -> None:
        path = run_dir / f"step-{step:06d}"
        model.eval()
        save_checkpoint(model, tokenizer, path, run_name=run_name, step=step, source=cfg.source)
        mean_loss = float(np.mean(losses)) if losses else None
        checkpoints.append(Checkpoint(step=step, path=path, train_loss=mean_loss))
        losses.clear()
        loss_text = "-" if mean_loss is None else f"{mean_loss:.4f}"
        say(f"step {step:5d}  train loss {loss_text}  -> {path}")
        model.train()

    model.train()
    for step in range(cfg.steps + 1):
        if step in wanted:
            checkpoint(step)
        if step == cfg.steps:
            break
        batch = torch.from_numpy(source.process.sample(cfg.batch_size, cfg.window_len, rng))
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
    return TrainRun(
        run_name=run_name,
        source=cfg.source,
        entropy_rate=source.entropy_rate()[0],
        checkpoints=checkpoints,
        seconds=time.perf_counter() - started,
    )

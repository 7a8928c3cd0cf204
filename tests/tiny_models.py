"""Tiny causal LMs built in the test session (random weights, a real tokenizer), saved to disk.

Every test that needs a model uses these: they load through the real loading code (``local:``)
and exercise the same architectures as real checkpoints, in milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    GPT2Config,
    GPTNeoXConfig,
    LlamaConfig,
    PreTrainedTokenizerFast,
)

VOCAB_SIZE = 384

TRAINING_TEXT = (
    "The quick brown fox jumps over the lazy dog. A language model predicts the next token. "
    "Hidden states carry information about future tokens beyond the next one. "
    "Entropy measures uncertainty; calibration compares it with the loss. "
) * 20


def build_tokenizer(vocab_size: int = VOCAB_SIZE) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on a fixed text: deterministic, offline."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([TRAINING_TEXT], trainer=trainer)
    from tokenizers import decoders

    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )


def tiny_config(arch: str, vocab_size: int = VOCAB_SIZE, **overrides: object):
    """Config of a 2-layer, width-32 model of the named family."""
    common = {"vocab_size": vocab_size, "bos_token_id": 1, "eos_token_id": 2}
    if arch == "llama":
        cfg = LlamaConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=512,
            **common,
        )
    elif arch == "gpt2":
        cfg = GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=512, **common)
    elif arch == "gpt_neox":
        cfg = GPTNeoXConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=512,
            tie_word_embeddings=False,
            **common,
        )
    elif arch == "gemma2":
        from transformers import Gemma2Config

        cfg = Gemma2Config(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=8,
            max_position_embeddings=512,
            final_logit_softcapping=30.0,
            attn_logit_softcapping=50.0,
            sliding_window=64,
            pad_token_id=0,
            **common,
        )
    else:
        raise ValueError(f"unknown tiny architecture {arch!r}")
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


def build_tiny_model(arch: str, directory: Path, seed: int = 0, **overrides: object) -> Path:
    """Create, save (safetensors + tokenizer) and return the directory of a tiny model."""
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(arch, **overrides))
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    build_tokenizer().save_pretrained(directory)
    return directory

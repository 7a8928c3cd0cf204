"""Token windows: tokenise text, cut fixed windows, hash them.

Decisions (documented for results' provenance):

- No special tokens are added inside the text. A window starts with the tokenizer's BOS token
  only if the tokenizer itself prepends BOS to an encoded document (Llama-style
  ``add_bos_token``): each window then reads like a document start, as in the model's
  training. Tokenizers that add nothing (GPT-2, SmolLM2) get windows of pure text.
- Text is tokenised in ~64 KiB chunks cut just after a newline (bounded memory, and
  tokenising stops once enough tokens exist). Pre-tokenizers split at whitespace anyway, so
  this changes at most how a run of blank lines is merged at a cut, deterministically.
- The token stream is cut into non-overlapping slots of ``window_len`` (minus the BOS);
  when there are more slots than windows wanted, ``seed`` picks which (in corpus order),
  so the windows sample the whole corpus rather than its first pages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from markovlens.corpora.errors import CorpusError

CHUNK_CHARS = 1 << 16
HASH_VERSION = b"markovlens-corpus-windows-v1"


def text_chunks(text: str, size: int = CHUNK_CHARS) -> Iterator[str]:
    """Chunks of about ``size`` characters, each ending just after a newline when possible."""
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            newline = text.rfind("\n", start, end)
            if newline > start:
                end = newline + 1
        yield text[start:end]
        start = end


def bos_prefix(tokenizer: Any) -> list[int]:
    """``[bos_id]`` if the tokenizer prepends BOS to an encoded document, else ``[]``."""
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        return []
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return [int(bos)] if ids and ids[0] == bos else []


def tokenize(text: str, tokenizer: Any, limit: int) -> list[int]:
    """Token ids of ``text`` (no special tokens), stopping once ``limit`` ids exist."""
    ids: list[int] = []
    for chunk in text_chunks(text):
        ids.extend(tokenizer(chunk, add_special_tokens=False, verbose=False)["input_ids"])
        if len(ids) >= limit:
            break
    return ids[:limit]


def cut_windows(
    ids: list[int], prefix: list[int], *, window_len: int, max_tokens: int, seed: int
) -> torch.Tensor:
    """``max_tokens // window_len`` windows (fewer if the corpus is short): [n, window_len]."""
    wanted = max_tokens // window_len
    if wanted < 1:
        raise CorpusError(
            f"max_tokens ({max_tokens}) is smaller than one window of {window_len} tokens"
        )
    body = window_len - len(prefix)
    if body < 1:
        raise CorpusError(f"window_len ({window_len}) leaves no room for text after the BOS")
    slots = len(ids) // body
    if slots < 1:
        raise CorpusError(
            f"the corpus has {len(ids)} tokens, fewer than one window of {window_len} tokens"
            + (" (including BOS)" if prefix else "")
        )
    stream = torch.tensor(ids[: slots * body], dtype=torch.long).view(slots, body)
    if slots > wanted:
        generator = torch.Generator().manual_seed(seed)
        chosen = torch.randperm(slots, generator=generator)[:wanted].sort().values
        stream = stream[chosen]
    if prefix:
        bos = torch.tensor(prefix, dtype=torch.long).expand(stream.shape[0], len(prefix))
        stream = torch.cat([bos, stream], dim=1)
    return stream.contiguous()


def tokenizer_identity(tokenizer: Any) -> str:
    """A path-independent identity: class, size and a hash of the full tokenizer definition."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        definition = backend.to_str()
    else:
        vocab = tokenizer.get_vocab()
        definition = "\n".join(f"{token}\t{index}" for token, index in sorted(vocab.items()))
    digest = hashlib.sha256(definition.encode("utf-8")).hexdigest()[:16]
    return f"{type(tokenizer).__name__}|{len(tokenizer)}|{digest}"


def windows_hash(windows: torch.Tensor, identity: str) -> str:
    """sha256 over (format version, tokenizer identity, shape, little-endian int64 ids)."""
    array = np.ascontiguousarray(windows.detach().cpu().numpy().astype("<i8"))
    digest = hashlib.sha256()
    digest.update(HASH_VERSION)
    digest.update(identity.encode("utf-8") + b"\0")
    digest.update(f"{array.shape[0]}x{array.shape[1]}".encode() + b"\0")
    digest.update(array.tobytes())
    return "sha256:" + digest.hexdigest()

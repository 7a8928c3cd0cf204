"""Submission-time model checks: refuse at once what the worker would refuse later.

Runs the models package's safety checks (allow-listed roots with symlinks followed, weight
formats, remote code, causal LM) on the source string of ``POST /jobs``. Nothing here reads
weights: only file names, ``config.json`` and (for ``hf:``) the Hub's file list. A Hub that
cannot be reached is not a reason to refuse: the worker may be online when the API is not.
Likewise ``local:``/``gguf:`` paths are checked here only when this process has model roots
configured: in a scale-out deployment the files may live on the workers alone, and the worker
enforces the same checks before it loads anything.
"""

from __future__ import annotations

import logging
from pathlib import Path

from markovlens.corpora import CorpusError, parse_corpus_source
from markovlens.models import ModelSourceError, parse_model_source
from markovlens.models.checkpoint import builtin_smollm2_path, gguf_vocab_size, resolve_checkpoint
from markovlens.models.errors import ModelLoadError
from markovlens.models.hub import HubUnreachableError
from markovlens.models.safety import check_causal_lm, read_config_json
from markovlens.service.errors import SubmitError
from markovlens.settings import Settings

log = logging.getLogger(__name__)


def preflight_model(source: str, settings: Settings, *, revision: str | None = None) -> None:
    """Raise ``SubmitError`` (HTTP 422) with the loader's own message if ``source`` cannot load.

    ``random-init:`` sources need no weights, only the architecture's config. ``revision``
    (the request's separate field) pins ``hf:`` sources; the jobs service validates it.
    """
    try:
        parsed = parse_model_source(source)
    except ModelSourceError as exc:
        raise SubmitError(str(exc)) from exc
    base = parsed.base
    if revision and base.kind == "hf" and not base.revision:
        base = base.model_copy(update={"revision": revision})
    need_weights = parsed.kind != "random-init"
    if base.kind in ("local", "gguf") and not settings.model_roots:
        return  # the files are the workers' business (see the module docstring)
    try:
        checkpoint = resolve_checkpoint(base, settings, need_weights=need_weights)
        if base.kind == "local":
            _check_local_is_causal(checkpoint.location)
    except HubUnreachableError as exc:
        log.info("preflight of %r skipped: %s", source, exc)
    except ModelLoadError as exc:
        raise SubmitError(f"model {source!r} cannot be analysed: {exc}") from exc


def preflight_pairing(model: str, corpus: str, settings: Settings) -> None:
    """A synthetic corpus is a stream of the source's own symbols: only a model over that
    vocabulary (a lab checkpoint trained on it, or its random init) can read it."""
    try:
        parsed = parse_corpus_source(corpus)
    except CorpusError:
        return  # the jobs service names the valid forms
    if parsed.kind != "synthetic":
        return
    from markovlens.lab.synthetic_sources import get_source

    try:
        symbols = get_source(parsed.ref).vocab_size
    except (KeyError, ValueError):
        return  # unknown name: the jobs service lists the known ones
    vocab = model_vocab_size(model, settings)
    if vocab is not None and vocab != symbols:
        raise SubmitError(
            f"{parsed.canonical} has a vocabulary of {symbols} symbols but {model[:200]!r} has "
            f"{vocab} tokens: a synthetic corpus needs a model over its own symbols (a lab "
            "checkpoint trained on it, see `markovlens lab`); for a text model use a text "
            "corpus such as builtin:python-docs or an upload"
        )


def model_vocab_size(source: str, settings: Settings) -> int | None:
    """The model's vocabulary size from its files' headers, or None when not known here."""
    try:
        base = parse_model_source(source).base
        if base.kind == "builtin":
            return gguf_vocab_size(builtin_smollm2_path())
        if base.kind not in ("local", "gguf") or not settings.model_roots:
            return None  # hf: would cost a Hub round trip; the worker checks it
        checkpoint = resolve_checkpoint(base, settings, need_weights=False)
        if checkpoint.is_gguf:
            return gguf_vocab_size(checkpoint.weight_files[0])
        config = read_config_json(Path(checkpoint.location))
    except (ModelSourceError, ModelLoadError):
        return None  # preflight_model has reported it
    vocab = config.get("vocab_size")
    return vocab if isinstance(vocab, int) and not isinstance(vocab, bool) else None


def _check_local_is_causal(directory: str) -> None:
    """AutoConfig reads ``config.json`` only (remote code was refused before this)."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(directory, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as exc:
        # transformers' messages name the resolved directory: give the kind of error only.
        raise ModelLoadError(
            f"its config.json cannot be read by transformers ({type(exc).__name__})"
        ) from None
    check_causal_lm(config)

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

from markovlens.jobs.errors import SubmitError
from markovlens.models import ModelSourceError, parse_model_source
from markovlens.models.errors import ModelLoadError
from markovlens.models.hub import HubUnreachableError
from markovlens.models.resolve import resolve_checkpoint
from markovlens.models.safety import check_causal_lm
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
        log.info("preflight of %s skipped: %s", source, exc)
    except ModelLoadError as exc:
        raise SubmitError(f"model {source!r} cannot be analysed: {exc}") from exc


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

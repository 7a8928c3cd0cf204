"""``hf-dataset:`` corpora: text of a Hugging Face dataset split (online only).

The ``datasets`` library is optional (not a dependency): imported lazily, with a clear error
when missing. Reachability is probed first with a hard deadline, so an offline machine answers
in seconds instead of hanging inside ``datasets``.
"""

from __future__ import annotations

from typing import Any

from markovlens.corpora.corpus_source import HFDatasetRef
from markovlens.corpora.errors import CorpusError
from markovlens.models import hub
from markovlens.models.errors import ModelLoadError

OFFLINE_HINT = "use builtin:python-docs or upload the text instead"
# English BPE averages ~4 characters per token; stop reading at 8 per token wanted.
_CHARS_PER_TOKEN_BUDGET = 8


def _resolve_path(ref: HFDatasetRef) -> tuple[str, str | None]:
    """The first (path, config) reading of ``ref`` that exists on the Hub."""
    from huggingface_hub import HfApi, errors

    label = f"hf-dataset:{'/'.join(ref.parts)}:{ref.split}"
    for path, config in ref.candidates:

        def call(path: str = path) -> Any:
            return HfApi(endpoint=hub.endpoint()).dataset_info(path, timeout=hub.HUB_TIMEOUT_S)

        try:
            hub.with_deadline(call, f"looking up {label}", hint=OFFLINE_HINT)
            return path, config
        except hub.HubUnreachableError as exc:
            raise CorpusError(
                f"hf-dataset: needs network access to the Hugging Face Hub ({exc})"
            ) from exc
        except ModelLoadError as exc:
            cause = exc.__cause__
            missing = isinstance(cause, errors.RepositoryNotFoundError)
            if missing and not isinstance(cause, errors.GatedRepoError):
                continue  # try the next reading of an ambiguous name
            raise CorpusError(str(exc)) from exc
    raise CorpusError(f"{label}: dataset not found on the Hub (or private)")


def _text_of(row: dict[str, Any]) -> str:
    if isinstance(row.get("text"), str):
        return str(row["text"])
    for value in row.values():
        if isinstance(value, str):
            return value
    return ""


def hf_dataset_text(ref: HFDatasetRef, max_tokens: int) -> str:
    """Text of the split, streamed, stopping once about ``max_tokens`` tokens are gathered."""
    path, config = _resolve_path(ref)
    try:
        import datasets
    except ImportError as exc:
        raise CorpusError(
            "hf-dataset: needs the 'datasets' package, which is not installed "
            "(pip install datasets)"
        ) from exc
    try:
        stream = datasets.load_dataset(path, config, split=ref.split, streaming=True)
        pieces: list[str] = []
        budget = max_tokens * _CHARS_PER_TOKEN_BUDGET
        total = 0
        for row in stream:
            text = _text_of(row).strip()
            if text:
                pieces.append(text)
                total += len(text)
            if total >= budget:
                break
    except Exception as exc:
        raise CorpusError(f"hf-dataset:{path} ({config}, {ref.split}) failed: {exc}") from exc
    if not pieces:
        raise CorpusError(f"hf-dataset:{path}: the split {ref.split!r} has no text")
    return "\n\n".join(pieces)

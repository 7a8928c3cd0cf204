"""Text corpora: the builtin Python docs and uploaded text."""

from __future__ import annotations

from markovlens.corpora.errors import CorpusError


def python_docs_text() -> str:
    """English prose of the stdlib's ``pydoc_data.topics`` (the language reference's topics).

    Always installed with CPython; topics are joined in sorted key order with a blank line
    between them, so the text is identical on every machine with the same Python version.
    """
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key].strip() for key in sorted(topics))


def upload_text(text: str | bytes | None, upload_id: str) -> str:
    """Validate uploaded text: given by the caller, UTF-8, not empty or whitespace only."""
    if text is None:
        raise CorpusError(f"upload:{upload_id}: the uploaded text was not provided")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorpusError(
                f"upload:{upload_id} is not UTF-8 text (byte {exc.start}: {exc.reason})"
            ) from exc
    if not text.strip():
        raise CorpusError(f"upload:{upload_id} is empty")
    return text

"""``GET /corpora`` and ``POST /corpora`` (multipart upload of UTF-8 text)."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, HTTPException, UploadFile, status

from markovlens.api.deps import WRITE_GUARD, SessionDep, SettingsDep
from markovlens.service import catalog, submission
from markovlens.service.schemas import CorpusOut

router = APIRouter(tags=["corpora"])

READ_CHUNK = 1024 * 1024


@router.get("/corpora", response_model=list[CorpusOut])
def list_corpora(session: SessionDep) -> list[CorpusOut]:
    return catalog.list_corpora(session)


@router.post(
    "/corpora",
    response_model=CorpusOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=WRITE_GUARD,  # a valid token (once configured), then the write budget
)
def upload_corpus(
    session: SessionDep,
    settings: SettingsDep,
    file: UploadFile = File(..., description="Plain UTF-8 text."),
    name: str | None = Form(default=None, max_length=255),
) -> CorpusOut:
    """Store uploaded text as corpus ``upload:<id>``; 413 too large, 415 not UTF-8, 422 empty."""
    data = read_limited(file, settings.max_upload_bytes)
    if not data.strip():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the uploaded file is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"the uploaded file is not UTF-8 text (invalid byte at offset {exc.start})",
        ) from exc
    if "\x00" in text:  # binary files can be valid UTF-8; NUL never appears in prose
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "the uploaded file looks binary (NUL bytes)"
        )
    display = (name or file.filename or "upload").strip()[:255] or "upload"
    corpus = submission.create_upload_corpus(session, display, text, settings=settings)
    return catalog.corpus_out(corpus)


def read_limited(file: UploadFile, limit: int) -> bytes:
    """Read at most ``limit`` bytes; 413 as soon as the upload is known to be larger."""
    chunks: list[bytes] = []
    size = 0
    while chunk := file.file.read(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE,
                f"the upload is larger than the limit of {limit:,} bytes",
            )
        chunks.append(chunk)
    return b"".join(chunks)

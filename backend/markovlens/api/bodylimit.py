"""Request bodies: refused above their size limit, and read whole within
``body_timeout_seconds`` before the request goes on.

Inside the guard and outside the concurrency cap: a slow or oversized body is refused without
holding a slot (a thread and a database connection). The body is replayed to the app.
"""

from __future__ import annotations

import asyncio

from fastapi import status
from fastapi.responses import JSONResponse

from markovlens.api.asgi import ASGIApp, Message, Receive, Scope, Send, refusal
from markovlens.settings import Settings

# JSON bodies (job submissions) are small; uploads get the upload limit plus multipart framing.
MAX_JSON_BODY_BYTES = 1 << 20
MULTIPART_OVERHEAD_BYTES = 64 << 10
UPLOAD_PATHS = ("/api/v1/corpora",)


class BodyLimit:
    """Reads each HTTP request's body within the deadline and the size limit of its path."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.max_upload_bytes = settings.max_upload_bytes
        self.max_upload_body = settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES

    def body_limit(self, path: str) -> tuple[int, str]:
        """The byte limit of a request body on ``path`` and the message when it is exceeded."""
        if path.startswith(UPLOAD_PATHS):
            message = f"the upload is larger than the limit of {self.max_upload_bytes:,} bytes"
            return self.max_upload_body, message
        message = (
            f"the request body is larger than this server accepts ({MAX_JSON_BODY_BYTES:,} bytes)"
        )
        return MAX_JSON_BODY_BYTES, message

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_receive = await self.read_body(scope, receive, scope.get("path", ""))
        if isinstance(body_receive, JSONResponse):
            await body_receive(scope, receive, send)
            return
        await self.app(scope, body_receive, send)

    async def read_body(self, scope: Scope, receive: Receive, path: str) -> Receive | JSONResponse:
        """The whole body within the deadline, replayed to the app; or the refusal."""
        limit, too_large = self.body_limit(path)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            return refusal(status.HTTP_413_CONTENT_TOO_LARGE, too_large)
        if declared in (None, 0) and not _chunked(scope):
            return receive  # no body: nothing to wait for
        timeout = self.settings.body_timeout_seconds
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        chunks: list[bytes] = []
        received = 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                return refusal(
                    status.HTTP_408_REQUEST_TIMEOUT,
                    f"the request body did not arrive within {timeout:g} s",
                )
            if message["type"] == "http.disconnect":
                return refusal(status.HTTP_400_BAD_REQUEST, "the client went away")
            received += len(message.get("body", b""))
            if received > limit:
                return refusal(status.HTTP_413_CONTENT_TOO_LARGE, too_large)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect as usual

        return replay


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _chunked(scope: Scope) -> bool:
    return any(
        name == b"transfer-encoding" and b"chunked" in value.lower()
        for name, value in scope.get("headers", [])
    )

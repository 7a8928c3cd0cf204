"""The request guard: one pure-ASGI middleware that decides before any body is read.

In order, for every HTTP request:

1. security headers on whatever response goes out (CSP, nosniff, frame denial...);
2. ``Host`` must be a served name (DNS rebinding; ``origin.py``), except for ``/health``;
3. writes under ``/api/``: not cross-site, not a simple request, a valid token when tokens
   are configured; all decided from the headers alone;
4. the body: refused above its size limit, and read whole within ``body_timeout_seconds``
   *before* the request reaches the concurrency cap, so slow bodies hold no slot.

Refusals leave as ``{"detail": "<line>"}`` like every other error, with ``Connection: close``
(the unread body is not worth draining).

``ConcurrencyLimit`` (inside the guard) bounds the requests that hold a thread and a
database connection at once. Event streams, ``/health`` and ``/metrics`` are never counted:
liveness answers whatever the load.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException, status
from fastapi.responses import JSONResponse

from markovlens.api.auth import CLIENT_KEY, WRITE_CHECKED, address_key, verify_bearer
from markovlens.api.origin import (
    WRITE_METHODS,
    cross_site_refusal,
    host_allowed,
    simple_request_refusal,
)
from markovlens.api.ratelimit import RateLimiter
from markovlens.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Only our own origin: scripts, styles, fonts, fetches. Plotly's "download PNG" builds data:/blob:
# images; nothing else needs more. frame-ancestors 'none' forbids embedding (clickjacking).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# /docs and /redoc (api/apidocs.py) are Swagger UI and ReDoc served from packaged files, started
# by an inline script. They render the OpenAPI schema only (no stored user strings), so they alone
# get the inline script (and ReDoc's blob: worker); nothing is loaded from another origin.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")
SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers without CSP level 2
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

# JSON bodies (job submissions) are small; uploads get the upload limit plus multipart framing.
MAX_JSON_BODY_BYTES = 1 << 20
MULTIPART_OVERHEAD_BYTES = 64 << 10
UPLOAD_PATHS = ("/api/v1/corpora",)
HEALTH_PATH = "/api/v1/health"
# Below SQLAlchemy's default pool capacity (5 + 10 overflow): a request never waits for a
# connection while holding a thread (see ConcurrencyLimit).
MAX_CONCURRENT_API_REQUESTS = 12


def refusal(code: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"detail": detail}, status_code=code, headers={**(headers or {}), "Connection": "close"}
    )


class SecurityMiddleware:
    """Headers on every response; host, origin, token and body checks before the app runs."""

    def __init__(self, app: ASGIApp, *, settings: Settings, state: Any) -> None:
        self.app = app
        self.settings = settings
        self.state = state  # app.state: the limiters live there (tests swap them)
        self.max_upload_bytes = settings.max_upload_bytes
        self.max_upload_body = settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES
        common = [
            (name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()
        ]
        # Encoded once: every response gets one of these two lists (docs pages, or the rest).
        self.headers = [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode()), *common]
        self.docs_headers = [
            (b"content-security-policy", DOCS_CONTENT_SECURITY_POLICY.encode()),
            *common,
        ]

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
        path: str = scope.get("path", "")
        extra = self.docs_headers if path.startswith(DOCS_PATHS) else self.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                headers += [(name, value) for name, value in extra if name not in present]
                message["headers"] = headers
            await send(message)

        answer = self.check_headers(scope, path)
        if answer is not None:
            await answer(scope, receive, send_with_headers)
            return
        body_receive = await self.read_body(scope, receive, path)
        if isinstance(body_receive, JSONResponse):
            await body_receive(scope, receive, send_with_headers)
            return
        await self.app(scope, body_receive, send_with_headers)

    def check_headers(self, scope: Scope, path: str) -> JSONResponse | None:
        """Everything decided from the request line and headers (no body read yet)."""
        headers = dict(scope.get("headers", []))
        host = headers.get(b"host", b"").decode("latin-1")
        if path != HEALTH_PATH and not host_allowed(host, self.settings.allowed_hosts):
            return refusal(
                status.HTTP_400_BAD_REQUEST,
                "unknown Host header: this server answers to its IP addresses, localhost and "
                "its own names; add others to MARKOVLENS_ALLOWED_HOSTS",
            )
        state = scope.setdefault("state", {})
        state[CLIENT_KEY] = address_key(scope, self.settings)
        if scope.get("method", "GET") not in WRITE_METHODS or not path.startswith("/api/"):
            return None
        why = cross_site_refusal(headers, scope.get("scheme", "http"))
        why = why or simple_request_refusal(headers)
        if why is not None:
            return refusal(status.HTTP_403_FORBIDDEN, why)
        if self.settings.api_tokens:
            try:
                state[CLIENT_KEY] = verify_bearer(
                    headers.get(b"authorization", b"").decode("latin-1"),
                    self.settings.api_tokens,
                    address=state[CLIENT_KEY],
                    failures=self._failures(),
                    what="this endpoint",
                )
            except HTTPException as exc:
                return refusal(exc.status_code, str(exc.detail), dict(exc.headers or {}))
        state[WRITE_CHECKED] = True
        return None

    def _failures(self) -> RateLimiter | None:
        return getattr(self.state, "auth_failure_limiter", None)

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


class ConcurrencyLimit:
    """At most ``limit`` API requests in the thread pool at once; the rest wait on the event loop.

    Each request holds a pooled database connection while it runs. Without a cap, overload
    puts more requests in the thread pool than there are connections, and those that wait on
    the connection pool for its timeout fail (503). Waiting here costs nothing but latency.
    Event streams are long-lived and take their own short sessions, and ``/health`` must
    answer under any load, so neither is counted (``/metrics`` is outside ``/api/``).
    """

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._semaphore: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/api/") or path.endswith("/events") or path == HEALTH_PATH:
            await self.app(scope, receive, send)
            return
        if self._semaphore is None:  # created inside the running loop
            self._semaphore = asyncio.Semaphore(self.limit)
        async with self._semaphore:
            await self.app(scope, receive, send)


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

"""Hardening of the HTTP surface: bearer tokens, security headers, body limits, rate limits.

``install_security(app, settings)`` adds the ASGI middleware (headers on every response,
request bodies bounded before anything parses them) and maps a lost database to a readable
503. The route dependencies ``require_write_token``, ``require_read_token`` and
``limit_writes`` are attached to routers in ``app.py`` and the write routes.

Tokens are compared in constant time and never logged: only a short SHA-256 prefix of a
token is ever used as a key (rate-limit buckets), and the raw value is never formatted into
a message.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from markovlens.settings import Settings

log = logging.getLogger(__name__)

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
# FastAPI's /docs and /redoc pages are built from an inline script plus Swagger/ReDoc assets on
# a CDN. They render the OpenAPI schema only (no stored user strings), so they alone get the
# CDN and inline script; every other path, the frontend included, gets the policy above.
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_CONTENT_SECURITY_POLICY = (
    f"default-src 'self'; script-src 'self' 'unsafe-inline' {DOCS_CDN}; "
    f"style-src 'self' 'unsafe-inline' {DOCS_CDN}; "
    "img-src 'self' data: https://fastapi.tiangolo.com; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
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
# Below SQLAlchemy's default pool capacity (5 + 10 overflow): a request never waits for a
# connection while holding a thread (see ConcurrencyLimit).
MAX_CONCURRENT_API_REQUESTS = 12

MAX_TRACKED_CLIENTS = 10_000  # oldest buckets are dropped beyond this (bounded memory)


# ---------------------------------------------------------------------------------------------
# Bearer tokens
# ---------------------------------------------------------------------------------------------


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def token_matches(presented: str, tokens: Sequence[str]) -> bool:
    """Constant-time membership test.

    Both sides are hashed first so ``compare_digest`` always sees equal lengths (no length
    leak), and every configured token is compared (no early exit revealing which one matched).
    """
    presented_digest = _digest(presented)
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(presented_digest, _digest(token))
    return matched


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _address_key(request: Request) -> str:
    return f"addr:{request.client.host if request.client is not None else 'unknown'}"


def _too_many_requests(what: str, wait: float) -> HTTPException:
    """429 ``too many <what>; retry in N s`` with ``Retry-After: N`` (whole seconds, ≥ 1)."""
    retry = max(1, math.ceil(wait))
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"too many {what}; retry in {retry} s",
        headers={"Retry-After": str(retry)},
    )


def _check_token(request: Request, what: str) -> None:
    tokens = _settings(request).api_tokens
    presented = bearer_token(request)
    if presented is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"{what} needs a bearer token (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    # Guessing tokens is throttled per address: once its failure budget is spent, the address
    # gets 429 before any comparison, valid token or not, until the budget refills.
    failures: RateLimiter | None = getattr(request.app.state, "auth_failure_limiter", None)
    address = _address_key(request)
    if failures is not None and (wait := failures.peek(address)) > 0:
        raise _too_many_requests("invalid tokens from this address", wait)
    if not token_matches(presented, tokens):
        if failures is not None:
            failures.acquire(address)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "the bearer token is not valid",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


def require_write_token(request: Request) -> None:
    """Writes (submit, cancel, upload) need a valid token once tokens are configured."""
    if _settings(request).api_tokens:
        _check_token(request, "this endpoint")


def require_read_token(request: Request) -> None:
    """Reads need a token too when ``MARKOVLENS_PROTECT_READS`` is on (and tokens exist)."""
    settings = _settings(request)
    if settings.api_tokens and settings.protect_reads:
        _check_token(request, "reading this server")


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the service reachable from this machine only."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def bind_refusal(host: str, settings: Settings, *, insecure: bool) -> str | None:
    """Why ``serve`` must not bind ``host``; None when it may."""
    if is_loopback(host) or settings.api_tokens or insecure:
        return None
    return (
        f"refusing to bind {host} without MARKOVLENS_API_TOKENS: anyone on the network could "
        "submit and cancel jobs. Set tokens, bind 127.0.0.1, or pass --insecure to accept that"
    )


# ---------------------------------------------------------------------------------------------
# Rate limiting
# ---------------------------------------------------------------------------------------------


class RateLimiter:
    """In-process token buckets keyed by client (one process serves the API: no shared store).

    Each key holds up to ``burst`` requests, refilled continuously at ``per_minute``.
    """

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_TRACKED_CLIENTS,
    ) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("rate limit needs per_minute > 0 and burst >= 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def peek(self, key: str) -> float:
        """Seconds until ``key`` has a request available (0.0 now), without taking one."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def acquire(self, key: str) -> float:
        """Take one request for ``key``: 0.0 if allowed, else seconds until one is available."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens, now)  # most recent last: eviction drops the oldest
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return wait


def client_key(request: Request) -> str:
    """Rate-limit key: the token (as a short hash, never the token) or the client address."""
    token = bearer_token(request)
    if token is not None:
        return "token:" + hashlib.sha256(token.encode()).hexdigest()[:16]
    return _address_key(request)


def limit_writes(request: Request) -> None:
    """429 with ``Retry-After`` once a client exceeds its write budget."""
    limiter: RateLimiter | None = getattr(request.app.state, "write_limiter", None)
    if limiter is None:
        return
    wait = limiter.acquire(client_key(request))
    if wait > 0:
        raise _too_many_requests("submissions from this client", wait)


def make_write_limiter(settings: Settings) -> RateLimiter | None:
    """From the settings (``writes_per_minute`` <= 0 disables limiting)."""
    if settings.writes_per_minute <= 0:
        return None
    return RateLimiter(settings.writes_per_minute, max(1, settings.write_burst))


def make_auth_failure_limiter(settings: Settings) -> RateLimiter | None:
    """Invalid-token budget per address (``auth_failures_per_minute`` <= 0 disables it)."""
    if settings.auth_failures_per_minute <= 0:
        return None
    return RateLimiter(settings.auth_failures_per_minute, max(1, settings.auth_failure_burst))


# ---------------------------------------------------------------------------------------------
# Middleware: headers and body limits
# ---------------------------------------------------------------------------------------------


class SecurityMiddleware:
    """Pure ASGI (streams such as SSE pass through untouched): adds the security headers to
    every response and refuses request bodies above the limit before any parser reads them."""

    def __init__(self, app: ASGIApp, *, max_upload_bytes: int) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.max_upload_body = max_upload_bytes + MULTIPART_OVERHEAD_BYTES
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

        limit, too_large = self.body_limit(path)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(too_large)(scope, receive, send_with_headers)
            return

        received = 0

        async def bounded_receive() -> Message:
            # A chunked body has no Content-Length: count what actually arrives.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, too_large)
            return message

        await self.app(scope, bounded_receive, send_with_headers)


class ConcurrencyLimit:
    """At most ``limit`` API requests in the thread pool at once; the rest wait on the event loop.

    Each request holds a pooled database connection while it runs. Without a cap, overload
    puts more requests in the thread pool than there are connections, and those that wait on
    the connection pool for its timeout fail (503). Waiting here costs nothing but latency.
    Event streams are long-lived and take their own short sessions, so they are not counted.
    """

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._semaphore: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/api/") or path.endswith("/events"):
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


def _too_large(message: str) -> JSONResponse:
    return JSONResponse(
        {"detail": message},
        status_code=status.HTTP_413_CONTENT_TOO_LARGE,
        headers={"Connection": "close"},
    )


# ---------------------------------------------------------------------------------------------
# Failure safety: a lost database is a 503 with a reason, never a crash
# ---------------------------------------------------------------------------------------------


def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    # The driver message can hold the connection URL (and a password in it): log, don't echo.
    log.error("database unavailable: %s", type(exc).__name__, exc_info=exc)
    reason = "database or disk is full" if "full" in str(exc).lower() else "database unavailable"
    return JSONResponse(
        {"detail": f"{reason}; the request was not applied, try again later"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "5"},
    )


def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
    # An id or number larger than the database's integers (SQLite raises OverflowError while
    # binding it, PostgreSQL a DataError): bad input, not a server fault.
    log.info("out-of-range value on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        {"detail": "a number in the request is out of range (ids are 64-bit integers)"},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


def install_security(app: FastAPI, settings: Settings) -> None:
    """Middleware, the write rate limiter, and handlers for a lost database or huge numbers."""
    # Inner: only requests that reach the routes are counted (a refused body never is).
    app.add_middleware(ConcurrencyLimit, limit=MAX_CONCURRENT_API_REQUESTS)
    app.add_middleware(SecurityMiddleware, max_upload_bytes=settings.max_upload_bytes)
    app.state.write_limiter = make_write_limiter(settings)
    app.state.auth_failure_limiter = make_auth_failure_limiter(settings)

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        return _database_unavailable(request, exc)

    app.add_exception_handler(OperationalError, unavailable)

    # A dropped connection surfaces as DBAPIError with connection_invalidated set.
    async def dbapi(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return _database_unavailable(request, exc)
        log.exception("database error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"detail": f"internal error ({type(exc).__name__}); see the server log"},
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    app.add_exception_handler(DBAPIError, dbapi)

    async def out_of_range(request: Request, exc: Exception) -> JSONResponse:
        return _out_of_range(request, exc)

    app.add_exception_handler(OverflowError, out_of_range)

    async def busy(request: Request, exc: Exception) -> JSONResponse:
        # Every pooled connection stayed busy for the pool timeout: overload, not a bug.
        log.warning("no free database connection for %s %s", request.method, request.url.path)
        return JSONResponse(
            {"detail": "the server is busy (no free database connection); try again"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )

    app.add_exception_handler(PoolTimeoutError, busy)
    app.add_exception_handler(DataError, out_of_range)

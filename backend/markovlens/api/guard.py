"""The request guard: who may ask, decided from the request line and headers alone.

One pure-ASGI middleware; for every HTTP request, before any body is read:

1. ``Host`` must be a served name (DNS rebinding; ``origin.py``), except for ``/health``;
2. the client key (rate-limit bucket) is the client address (``auth.py``, ``addresses.py``);
3. writes under ``/api/``: not cross-site, not a simple request (``origin.py``), and a valid
   token when tokens are configured (``auth.py``), which then becomes the client key.

The rest of the stack (``security.py`` installs it) is, from the outside in: security headers
(``headers.py``), this guard, the body limits (``bodylimit.py``) and the concurrency cap
(``concurrency.py``).
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status
from fastapi.responses import JSONResponse

from markovlens.api.asgi import HEALTH_PATH, ASGIApp, Receive, Scope, Send, refusal
from markovlens.api.auth import CLIENT_KEY, WRITE_CHECKED, address_key, verify_bearer
from markovlens.api.origin import (
    WRITE_METHODS,
    cross_site_refusal,
    host_allowed,
    simple_request_refusal,
)
from markovlens.api.ratelimit import RateLimiter
from markovlens.settings import Settings


class RequestGuard:
    """Host, origin and token checks before the app runs; refusals leave at once."""

    def __init__(self, app: ASGIApp, *, settings: Settings, state: Any) -> None:
        self.app = app
        self.settings = settings
        self.state = state  # app.state: the limiters live there (tests swap them)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answer = self.check_headers(scope, scope.get("path", ""))
        if answer is not None:
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)

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

"""What the pure-ASGI middlewares share: the ASGI types, the paths they single out, and the
early refusal they answer with before the app runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi.responses import JSONResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HEALTH_PATH = "/api/v1/health"  # liveness: answers whatever the Host and the load


def refusal(code: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """``{"detail": "<line>"}`` like every other error, with ``Connection: close`` (the unread
    body is not worth draining)."""
    return JSONResponse(
        {"detail": detail}, status_code=code, headers={**(headers or {}), "Connection": "close"}
    )

"""Every error leaves the API as ``{"detail": "<one readable line>"}`` with a fitting status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from markovlens.jobs.errors import (
    JobStateError,
    NotFoundError,
    QueueUnavailableError,
    SubmitError,
)
from markovlens.models.errors import ModelSourceError

log = logging.getLogger(__name__)


def describe_validation(errors: list[Any]) -> str:
    """Pydantic/FastAPI error list -> ``where: what; where: what``."""
    parts = []
    for error in errors:
        # "body" and "query" prefixes say nothing a user needs.
        location = ".".join(
            str(item) for item in error.get("loc", ()) if item not in ("body", "query", "path")
        )
        message = str(error.get("msg", error))
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts) or "invalid request"


# Service errors carry messages written for the user; only the status code is added here.
SERVICE_ERRORS: dict[type[Exception], int] = {
    SubmitError: status.HTTP_422_UNPROCESSABLE_CONTENT,
    ModelSourceError: status.HTTP_422_UNPROCESSABLE_CONTENT,
    NotFoundError: status.HTTP_404_NOT_FOUND,
    JobStateError: status.HTTP_409_CONFLICT,
    QueueUnavailableError: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def install_error_handlers(app: FastAPI) -> None:
    """Readable 422s for request and config validation; 500s that never leak a traceback."""

    async def service_error(_: Request, exc: Exception) -> JSONResponse:
        code = next(c for kind, c in SERVICE_ERRORS.items() if isinstance(exc, kind))
        # LookupError's str() wraps the message in quotes; args[0] is the message itself.
        message = str(exc.args[0]) if exc.args else type(exc).__name__
        return JSONResponse({"detail": message}, status_code=code)

    for kind in SERVICE_ERRORS:
        app.add_exception_handler(kind, service_error)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"detail": describe_validation(list(exc.errors()))},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @app.exception_handler(ValidationError)
    async def model_invalid(_: Request, exc: ValidationError) -> JSONResponse:
        return JSONResponse(
            {"detail": f"invalid config: {describe_validation(list(exc.errors()))}"},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"detail": f"internal error ({type(exc).__name__}); see the server log"},
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

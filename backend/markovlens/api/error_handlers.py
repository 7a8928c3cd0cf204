"""Every error leaves the API as ``{"detail": "<one readable line>"}`` with a fitting status.

All exception-to-status mappings live here: domain errors of the models, corpora, jobs and
analysis packages (their messages are written for the user), request validation, a lost or
busy database, out-of-range numbers, and the last resort 500 that never leaks a traceback.
Routers raise domain errors (or an ``HTTPException`` for a check of their own) and map nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from markovlens.corpora.errors import CorpusError
from markovlens.models.errors import ModelLoadError, ModelSourceError
from markovlens.schema.tokens import TokenViewError
from markovlens.service.errors import (
    JobStateError,
    NotFoundError,
    QueueUnavailableError,
    StorageFullError,
    SubmitError,
)

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


# Domain errors carry messages written for the user; only the status code is added here.
# Order matters: the first matching class wins (StorageFullError is a SubmitError).
SERVICE_ERRORS: dict[type[Exception], int] = {
    StorageFullError: status.HTTP_507_INSUFFICIENT_STORAGE,
    SubmitError: status.HTTP_422_UNPROCESSABLE_CONTENT,
    ModelSourceError: status.HTTP_422_UNPROCESSABLE_CONTENT,
    ModelLoadError: status.HTTP_422_UNPROCESSABLE_CONTENT,
    CorpusError: status.HTTP_422_UNPROCESSABLE_CONTENT,
    NotFoundError: status.HTTP_404_NOT_FOUND,
    TokenViewError: status.HTTP_404_NOT_FOUND,  # no token view of that result or window
    JobStateError: status.HTTP_409_CONFLICT,
    QueueUnavailableError: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def _database_unavailable(exc: Exception) -> JSONResponse:
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


def _internal(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        {"detail": f"internal error ({type(exc).__name__}); see the server log"},
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Readable 4xx for bad input, 503 for a lost or busy database, 500 without a traceback."""

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

    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        return _database_unavailable(exc)

    app.add_exception_handler(OperationalError, unavailable)

    # A dropped connection surfaces as DBAPIError with connection_invalidated set.
    async def dbapi(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return _database_unavailable(exc)
        return _internal(request, exc)

    app.add_exception_handler(DBAPIError, dbapi)

    async def out_of_range(request: Request, exc: Exception) -> JSONResponse:
        return _out_of_range(request, exc)

    app.add_exception_handler(OverflowError, out_of_range)
    app.add_exception_handler(DataError, out_of_range)

    async def busy(request: Request, exc: Exception) -> JSONResponse:
        # Every pooled connection stayed busy for the pool timeout: overload, not a bug.
        log.warning("no free database connection for %s %s", request.method, request.url.path)
        return JSONResponse(
            {"detail": "the server is busy (no free database connection); try again"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )

    app.add_exception_handler(PoolTimeoutError, busy)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _internal(request, exc)

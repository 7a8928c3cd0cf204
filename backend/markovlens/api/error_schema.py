"""OpenAPI that tells the truth about errors: every error body is ``{"detail": "<line>"}``.

FastAPI documents 422 as its own list-of-errors shape, but ``error_handlers.py`` answers every error
(422 included) with one readable string, and the security layer adds 401, 413 and 429. Clients
generated from the schema (and the schemathesis run in tests/security) rely on this.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from markovlens.schema.openapi import add_result_schemas

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "properties": {"detail": {"type": "string", "title": "Detail"}},
    "required": ["detail"],
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}

COMMON = {
    "400": "Malformed request body (not parseable as JSON or multipart)",
    "413": "Request body too large",
    "422": "Invalid input (the detail says which field and why)",
    "503": "Database unavailable or full; nothing was applied",
}
WRITE = {
    "401": "Missing or invalid bearer token",
    "403": "Cross-site or simple (form-like) write refused; send JSON or X-Markovlens-Client",
    "408": "The request body did not arrive in time",
    "429": "Too many writes from this client",
}
READ = {"401": "Missing or invalid bearer token (when reads are protected)", "404": "Not found"}
BY_METHOD = {"post": {**WRITE, "404": "Not found", "409": "Conflict with the current state"}}
UPLOAD = {
    "415": "The upload is not UTF-8 text",
    "507": "The corpora storage budget is full",
}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def install_error_schema(app: FastAPI) -> None:
    """Replace ``app.openapi`` with one whose error responses match what the API sends."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        add_result_schemas(schema)  # AnalysisResult and its sections, with units
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Error"] = ERROR_SCHEMA
        for schemas_name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(schemas_name, None)
        for path, item in schema.get("paths", {}).items():
            if not path.startswith("/api/"):
                continue
            for method, operation in item.items():
                errors = {**COMMON, **READ, **BY_METHOD.get(method, {})}
                if method == "post" and path.endswith("/corpora"):
                    errors.update(UPLOAD)
                responses = operation.setdefault("responses", {})
                for code, description in errors.items():
                    responses[code] = _error_response(description)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

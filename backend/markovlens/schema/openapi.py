"""The result format in the OpenAPI document: AnalysisResult, its sections and Headline.

The API serves a stored result as it was written (a JSON dict, not re-validated), so FastAPI
alone would document ``ResultOut.result`` as a free-form object. A field made with
:func:`result_document` is marked; :func:`add_result_schemas` puts the result models under
``components.schemas`` (named after their classes, with ``x-unit``, ``x-direction`` and
``description`` on every numeric field) and points each marked field at ``AnalysisResult``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from markovlens.schema.headline import Headline
from markovlens.schema.result import AnalysisResult

REF_PREFIX = "#/components/schemas/"
RESULT_DOCUMENT = "x-analysis-result"  # marks a dict field that holds an AnalysisResult
RESULT_MODELS: tuple[type[BaseModel], ...] = (AnalysisResult, Headline)


def result_document(description: str) -> Any:
    """A ``Field`` for a ``dict[str, Any]`` that holds a stored AnalysisResult document."""
    return Field(description=description, json_schema_extra={RESULT_DOCUMENT: True})


def result_schemas() -> dict[str, dict[str, Any]]:
    """JSON schemas of the result models and every sub-model, by class name, with their
    references written for ``components.schemas``."""
    _, top = models_json_schema(
        [(model, "validation") for model in RESULT_MODELS],
        ref_template=REF_PREFIX + "{model}",
    )
    schemas: dict[str, dict[str, Any]] = top.get("$defs", {})
    return schemas


def _point_marked_fields(node: Any) -> None:
    """Replace every marked property schema with a reference to AnalysisResult."""
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict):
            for name, prop in properties.items():
                if isinstance(prop, dict) and prop.get(RESULT_DOCUMENT):
                    properties[name] = {
                        "$ref": f"{REF_PREFIX}AnalysisResult",
                        "description": prop.get("description", ""),
                    }
        for value in node.values():
            _point_marked_fields(value)
    elif isinstance(node, list):
        for value in node:
            _point_marked_fields(value)


def add_result_schemas(openapi: dict[str, Any]) -> dict[str, Any]:
    """``openapi`` with the result models in ``components.schemas`` (in place, returned).

    A component of the same name that the app already has (Headline, from the routes'
    response models) is replaced: both come from the same class.
    """
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(result_schemas())
    _point_marked_fields(schemas)
    return openapi

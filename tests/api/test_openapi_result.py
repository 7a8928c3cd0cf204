"""/openapi.json documents the result format: AnalysisResult and its sections, with units."""

from __future__ import annotations

from typing import Any

from tests.schema.units import problems

SECTIONS = (
    "AnalysisResult",
    "EntropySuite",
    "SurplusSuite",
    "SpectralSuite",
    "LensSuite",
    "ExactComparison",
    "Interval",
    "PositionCurve",
    "Headline",
)


def test_openapi_exposes_the_result_schema_with_units(make_client: Any) -> None:
    document = make_client().get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert set(SECTIONS) <= set(schemas)
    result = schemas["ResultOut"]["properties"]["result"]
    assert result["$ref"] == "#/components/schemas/AnalysisResult"
    assert problems(schemas["AnalysisResult"], schemas) == []
    assert problems(schemas["Headline"], schemas) == []
    mean_nll = schemas["EntropySummary"]["properties"]["mean_nll"]
    assert (mean_nll["x-unit"], mean_nll["x-direction"]) == ("nats", "lower")
    assert mean_nll["description"]
    # Every reference resolves inside the document (clients and the docs pages follow them).
    text = str(document)
    for name in {part.split("'")[0] for part in text.split("#/components/schemas/")[1:]}:
        assert name in schemas, name


def test_the_docs_page_still_loads_offline(make_client: Any) -> None:
    client = make_client()
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").status_code == 200

"""Property-based run of schemathesis over the OpenAPI schema: no 5xx, responses match schema.

Bounded: a few dozen generated requests per operation (≈ 30-60 s on the 2-core CI machine).
The Hub is forced offline so generated ``hf:`` sources never wait on the network.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from markovlens.api import create_app
from markovlens.settings import Settings
from schemathesis.specs.openapi import checks as openapi_checks

from tests.conftest import TEST_HOSTS
from tests.security.conftest import AUTH, TOKEN

_DATA = Path(tempfile.mkdtemp(prefix="markovlens-schemathesis-"))
_FRONTEND = _DATA / "frontend"
_FRONTEND.mkdir()
(_FRONTEND / "index.html").write_text("<!doctype html><title>t</title>")
_MODEL_ROOT = _DATA / "models"
_MODEL_ROOT.mkdir()

app = create_app(
    Settings(
        data_dir=_DATA / "data",
        embedded_worker=False,
        api_tokens=[TOKEN],
        model_roots=[_MODEL_ROOT],
        writes_per_minute=0,  # the fuzzer writes fast on purpose; rate limits have their own test
        max_upload_bytes=64 * 1024,
        allowed_hosts=TEST_HOSTS,
    ),
    frontend_dir=_FRONTEND,
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)

# The event stream of a live job never ends by design; it has its own tests (test_headers).
SKIPPED = schema.exclude(path_regex=r"/events$")

CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]


@pytest.fixture(autouse=True, scope="module")
def _hub_offline() -> Iterator[None]:
    """Generated ``hf:`` sources must not reach for the network (only in this module)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield


@SKIPPED.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,  # no example database written into the repository
)
@pytest.mark.timeout(300)
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=AUTH, checks=CHECKS)


def test_error_responses_are_documented() -> None:
    """The schema itself says errors are ``{"detail": str}`` (what every handler sends)."""
    document = app.openapi()
    assert document["components"]["schemas"]["Error"]["properties"]["detail"]["type"] == "string"
    submit = document["paths"]["/api/v1/jobs"]["post"]["responses"]
    assert {"401", "413", "422", "429", "503"} <= set(submit)
    upload = document["paths"]["/api/v1/corpora"]["post"]["responses"]
    assert "415" in upload

"""/docs and /redoc reference only this server: their bundles come from a packaged wheel."""

from __future__ import annotations

import re
from typing import Any

import pytest


@pytest.mark.parametrize(
    ("page", "assets"),
    [("/docs", ["swagger-ui-bundle.js", "swagger-ui.css"]), ("/redoc", ["redoc.standalone.js"])],
)
def test_docs_pages_load_their_bundles_from_this_server(
    make_client: Any, page: str, assets: list[str]
) -> None:
    client = make_client()
    html = client.get(page)
    assert html.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url:\s*['"]([^'"]+)['"]""", html.text)
    referenced = [u for pair in urls for u in pair if u]
    assert referenced and all(u.startswith("/") for u in referenced), referenced
    assert "fonts.googleapis" not in html.text and "cdn.jsdelivr" not in html.text
    for name in assets:
        asset = client.get(f"/docs/assets/{name}")
        assert asset.status_code == 200 and len(asset.content) > 100_000, name
    assert client.get("/openapi.json").status_code == 200


def test_a_missing_asset_is_a_404_not_the_frontend(make_client: Any) -> None:
    assert make_client().get("/docs/assets/nope.js").status_code == 404

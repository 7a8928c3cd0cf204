"""Swagger UI at ``/docs`` and ReDoc at ``/redoc`` from packaged files: no CDN, works air-gapped.

FastAPI's own pages load their bundles (and a favicon, and Google Fonts for ReDoc) from the
internet, so an offline machine gets a blank page. The ``fastapi-offline`` wheel ships the
Swagger UI and ReDoc bundles; only its static files are used here, under ``/docs/assets``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs/assets"  # under /docs: the docs pages' security headers cover it too
REDOC_JS_URL = "/docs/redoc.js"
# ReDoc's menu footer always shows this image from a CDN (no option hides it): the CSP blocks
# it with a console error, and an offline machine cannot reach it anyway.
REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def assets_dir() -> Path:
    """The Swagger UI / ReDoc bundles inside the installed fastapi-offline wheel."""
    return Path(fastapi_offline.__file__).resolve().parent / "static"


@cache
def redoc_bundle() -> str:
    """The packaged ReDoc bundle with its footer logo pointed at the local favicon."""
    text = (assets_dir() / "redoc.standalone.js").read_text(encoding="utf-8")
    return text.replace(REDOC_CDN_LOGO, f"{ASSETS_URL}/favicon.png")


def install_api_docs(app: FastAPI) -> None:
    """Add the two docs pages; create the app with ``docs_url=None, redoc_url=None``."""
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    title = app.title

    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} API (Swagger UI)",
            oauth2_redirect_url=oauth2_redirect,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        )

    @app.get(oauth2_redirect, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} API (ReDoc)",
            redoc_js_url=REDOC_JS_URL,
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )

    @app.get(REDOC_JS_URL, include_in_schema=False)
    def redoc_js() -> Response:
        return Response(redoc_bundle(), media_type="text/javascript")

    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="api-docs-assets")

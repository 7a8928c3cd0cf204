"""Static files: the frontend at ``/`` and Plotly.js from the installed plotly wheel."""

from __future__ import annotations

import logging
from pathlib import Path

import plotly
from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

log = logging.getLogger(__name__)

PLOTLY_ROUTE = "/static/plotly.min.js"


def default_frontend_dir() -> Path:
    """``frontend/`` at the repository root (the package is installed editable from it)."""
    return Path(__file__).resolve().parents[3] / "frontend"


def plotly_js_path() -> Path:
    """The minified Plotly bundle shipped inside the plotly wheel: no CDN, works air-gapped."""
    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def mount_static(app: FastAPI, frontend_dir: Path | None) -> None:
    """Serve Plotly.js and the frontend; call last so API routes take precedence over ``/``."""
    bundle = plotly_js_path()

    @app.get(PLOTLY_ROUTE, include_in_schema=False)
    def plotly_js() -> FileResponse:
        # Long cache: the file only changes with the installed plotly version.
        return FileResponse(
            bundle,
            media_type="application/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    directory = frontend_dir or default_frontend_dir()
    if directory.is_dir():
        app.mount("/", StaticFiles(directory=directory, html=True), name="frontend")
    else:
        log.warning("frontend directory %s not found; serving the API only", directory)

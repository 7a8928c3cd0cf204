"""Static files: the frontend at ``/`` and the Plotly.js bundle vendored in this package.

The bundle is plotly.js's "basic" distribution (scatter, bar and pie traces: all the charts
draw), 1.2 MB instead of the 4.8 MB full bundle; npm package ``plotly.js-basic-dist-min``,
version in the file's first lines, MIT licence beside it. No CDN: it works air-gapped. The
frontend loads it on its first chart only (``frontend/js/charts.js``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

log = logging.getLogger(__name__)

PLOTLY_ROUTE = "/static/plotly.min.js"


def default_frontend_dir() -> Path:
    """``frontend/`` at the repository root (the package is installed editable from it)."""
    return Path(__file__).resolve().parents[3] / "frontend"


def plotly_js_path() -> Path:
    """The vendored minified Plotly bundle (see the module docstring)."""
    return Path(__file__).resolve().parent / "vendor" / "plotly-basic.min.js"


def mount_static(app: FastAPI, frontend_dir: Path | None) -> None:
    """Serve Plotly.js and the frontend; call last so API routes take precedence over ``/``."""
    bundle = plotly_js_path()

    @app.get(PLOTLY_ROUTE, include_in_schema=False)
    def plotly_js() -> FileResponse:
        # Long cache: the file only changes with the vendored version.
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

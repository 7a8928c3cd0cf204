"""GET /methods: docs/methods.md rendered to HTML, the target of the UI's help links.

The page is the repository's own Markdown (trusted, not user input), so raw HTML stays on:
the ``<a id="...">`` anchors the help links point to (``/methods#<anchor>``) pass through.
It is rendered once per process and file version (the file changes only with a deploy).
"""

from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from markdown_it import MarkdownIt

router = APIRouter()


def methods_path() -> Path:
    """``docs/methods.md`` at the repository root (the package is installed editable from it;
    the Docker image copies ``docs/`` next to ``backend/``)."""
    return Path(__file__).resolve().parents[4] / "docs" / "methods.md"


@lru_cache(maxsize=4)
def _render(text: str) -> str:
    body = MarkdownIt("commonmark", {"html": True}).enable("table").render(text)
    title = html.escape(text.splitlines()[0].lstrip("# ").strip() if text else "Methods")
    # No inline style or script: the app's CSP allows only same-origin stylesheets.
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title} · markovlens</title>\n"
        '<link rel="stylesheet" href="/css/app.css">\n'
        '<link rel="icon" href="/favicon.svg" type="image/svg+xml">\n</head>\n'
        '<body class="methods">\n<main id="main" class="methods-page">\n'
        '<p><a href="/">← markovlens</a></p>\n'
        f"{body}</main>\n</body>\n</html>\n"
    )


@router.get("/methods", response_class=HTMLResponse, include_in_schema=False)
def methods_page() -> HTMLResponse:
    """What every number means (docs/methods.md), with its stable section anchors."""
    path = methods_path()
    if not path.is_file():
        return HTMLResponse(
            "<!doctype html><title>methods</title><p>docs/methods.md is not installed "
            "with this deployment.</p>",
            status_code=404,
        )
    return HTMLResponse(_render(path.read_text(encoding="utf-8")))

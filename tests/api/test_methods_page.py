"""GET /methods serves docs/methods.md as HTML with the anchors the UI's help links use."""

from __future__ import annotations

import re

from markovlens.api.routers.methods import _render, methods_path

from tests.conftest import ClientFactory


def test_methods_page_renders_every_anchor_of_the_markdown(make_client: ClientFactory) -> None:
    client = make_client()
    response = client.get("/methods")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    source = methods_path().read_text(encoding="utf-8")
    anchors = re.findall(r'<a id="([a-z0-9-]+)"></a>', source)
    assert {"entropy", "nll", "calibration", "vacuous", "lab", "provenance"} <= set(anchors)
    for anchor in anchors:  # raw HTML passes through: /methods#<anchor> lands on its section
        assert f'<a id="{anchor}"></a>' in page, anchor
    # Markdown is rendered (headings, tables), not shown as source.
    assert "<h1>Methods" in page and "<h2>" in page and "## " not in page
    assert "<table>" in _render("# T\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")  # GFM tables on
    # The app's CSP forbids inline styles and scripts: the page uses neither.
    assert "<style" not in page and "<script" not in page and " style=" not in page
    assert "default-src 'self'" in response.headers["content-security-policy"]


def test_methods_file_is_found_from_the_repository_and_the_image() -> None:
    path = methods_path()
    assert path.is_file() and path.parts[-2:] == ("docs", "methods.md")
    dockerfile = (path.parents[1] / "Dockerfile").read_text()
    assert "COPY docs/methods.md ./docs/methods.md" in dockerfile
    ignored = (path.parents[1] / ".dockerignore").read_text().split()
    assert "docs" not in ignored and "docs/methods.md" not in ignored


def test_every_help_link_of_the_ui_has_its_section() -> None:
    """Chart specs carry ``help: "<anchor>"``; each must be an anchor of docs/methods.md."""
    root = methods_path().parents[1]
    anchors = set(re.findall(r'<a id="([a-z0-9-]+)"></a>', methods_path().read_text()))
    used: set[str] = set()
    for script in (root / "frontend" / "js").rglob("*.js"):
        used |= set(re.findall(r'\bhelp:\s*["\']([a-z0-9-]+)["\']', script.read_text()))
        used |= set(re.findall(r"/methods#([a-z0-9-]+)", script.read_text()))
    assert used <= anchors, sorted(used - anchors)

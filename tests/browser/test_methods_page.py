"""The /methods page as a reader sees it: a help link lands on its section, tables fit."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import free_port

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``markovlens serve`` without a worker: the page needs no jobs."""
    root = tmp_path_factory.mktemp("methods")
    port = free_port()
    env = {
        **os.environ,
        "MARKOVLENS_DATA_DIR": str(root / "data"),
        "MARKOVLENS_EMBEDDED_WORKER": "false",
    }
    cli = Path(sys.executable).parent / "markovlens"
    log = (root / "serve.log").open("w")
    proc = subprocess.Popen(
        [str(cli), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/methods", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise AssertionError((root / "serve.log").read_text())
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.mark.parametrize(
    ("anchor", "heading"),
    [
        ("lab", "Lab validation: checks that can fail"),
        ("vacuous", "Vacuous bounds and other labels"),
        ("calibration", "Calibration gap and ECE"),
    ],
)
def test_help_link_lands_on_its_section_and_the_page_fits(
    browser: Any, base: str, anchor: str, heading: str
) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(f"{base}/methods#{anchor}")
        page.wait_for_load_state("load")
        title = page.get_by_role("heading", name=heading, exact=True)
        box = title.bounding_box()
        # The section's heading is at the top of the window (to the pixel: the anchor sits on
        # the line above it), not somewhere below the fold.
        assert box is not None and -1 <= box["y"] < 150, box
        # Rendered, not Markdown source: headings and tables, and nothing wider than the window.
        assert page.locator("h2").count() >= 5 and page.locator("table").count() >= 2
        assert page.evaluate("document.documentElement.scrollWidth") <= 1200
        # The app's stylesheet loaded under its CSP (body text is not the browser's serif).
        font = page.evaluate("getComputedStyle(document.body).fontFamily")
        assert "serif" not in font.split(",")[0], font
        assert errors == [], errors
    finally:
        page.close()

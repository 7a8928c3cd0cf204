"""The CSS files that stand in for Plotly's inline <style> match the installed bundle."""

from __future__ import annotations

import re

from tests.browser.plotly_assets import FRONTEND_CSS, MAPLIBRE_ID, expected_files


def test_committed_plotly_css_matches_the_installed_bundle() -> None:
    for name, text in expected_files().items():
        committed = (FRONTEND_CSS / name).read_text()
        assert committed == text, f"run `python -m tests.browser.plotly_assets` ({name} is stale)"


def test_index_links_them_under_the_ids_plotly_checks() -> None:
    index = (FRONTEND_CSS.parent / "index.html").read_text()
    assert re.search(
        r'href="css/plotly.css" id="plotly.js-style-global" class="no-inline-styles"', index
    )
    assert f'href="css/maplibre.css" id="{MAPLIBRE_ID}"' in index


def test_base_css_has_the_modebar_and_plot_root_rules() -> None:
    css = expected_files()["plotly.css"]
    assert ".js-plotly-plot .plotly .modebar {position:absolute;" in css
    assert ".plotly-notifier {" in css
    assert "X" not in re.sub(r"\{[^}]*\}", "", css.split("*/", 1)[1])  # every X substituted

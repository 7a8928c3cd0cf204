"""The vendored Plotly bundle, and the CSS file that stands in for its inline <style>."""

from __future__ import annotations

import re
from pathlib import Path

from markovlens.api.static import plotly_js_path

from tests.browser.plotly_assets import FRONTEND_CSS, bundle_text, expected_files

FRONTEND = FRONTEND_CSS.parent
# The trace types the charts draw (charts.js): the basic bundle must register every one.
TRACE_TYPES = ("scatter", "bar")


def test_committed_plotly_css_matches_the_vendored_bundle() -> None:
    for name, text in expected_files().items():
        committed = (FRONTEND_CSS / name).read_text()
        assert committed == text, f"run `python -m tests.browser.plotly_assets` ({name} is stale)"


def test_base_css_has_the_modebar_and_plot_root_rules() -> None:
    css = expected_files()["plotly.css"]
    assert ".js-plotly-plot .plotly .modebar {position:absolute;" in css
    assert ".plotly-notifier {" in css
    assert "X" not in re.sub(r"\{[^}]*\}", "", css.split("*/", 1)[1])  # every X substituted


def test_the_vendored_bundle_is_the_small_one_and_has_the_trace_types_the_charts_use() -> None:
    src = bundle_text()
    assert src.startswith("/**\n* plotly.js (basic - minified) v")
    assert plotly_js_path().stat().st_size < 1_500_000  # the full bundle is 4.8 MB
    assert (plotly_js_path().parent / "plotly-LICENSE.txt").read_text().startswith("MIT License")
    charts = (FRONTEND / "js" / "charts.js").read_text()
    used = set(re.findall(r'type: "(\w+)", (?:mode|name)', charts))
    assert used == set(TRACE_TYPES), used
    for trace in TRACE_TYPES:
        assert re.search(rf'moduleType:"trace",name:"{trace}"', src), trace


def test_no_page_links_plotly_or_a_map_stylesheet_up_front() -> None:
    index = (FRONTEND / "index.html").read_text()
    assert "plotly" not in re.sub(r"<!--.*?-->", "", index, flags=re.S)
    assert not Path(FRONTEND_CSS / "maplibre.css").exists()
    charts = (FRONTEND / "js" / "charts.js").read_text()
    # charts.js links Plotly's CSS under the id Plotly checks before it injects <style>.
    assert 'const PLOTLY_CSS_ID = "plotly.js-style-global";' in charts
    assert 'class: "no-inline-styles"' in charts

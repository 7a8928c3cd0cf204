"""What a person sees in a chart card: axes set by the estimates, messages instead of broken
charts, distinguishable series, help links, figures that carry their context, the dark theme.

Specs with known values are drawn by the real renderer (charts.js, real Plotly) in the page;
the assertions read what is on screen: tick labels, captions, buttons, pixel scales.
"""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import UI, Service

pytestmark = pytest.mark.browser


def draw(ui: UI, specs: list[dict[str, Any]], context: dict[str, str] | None = None) -> Any:
    """Render ``specs`` with charts.js into a fresh section of the Jobs page; wait until drawn."""
    page = ui.goto("#/jobs")
    page.evaluate(
        """async ([specs, context]) => {
          const charts = await import('/js/charts.js');
          if (context) charts.setChartContext(context);
          document.getElementById('test-charts')?.remove();
          const box = document.createElement('section');
          box.id = 'test-charts';
          document.querySelector('main').prepend(box);
          await charts.renderCharts(box, specs).drawn;
        }""",
        [specs, context],
    )
    return page


def card(page: Any, chart_id: str) -> Any:
    return page.locator(f"#test-charts figure[data-chart-id='{chart_id}']")


def tick_values(page: Any, chart_id: str, axis: str = "y") -> list[float]:
    """The tick labels a person reads on an axis, as numbers (Plotly's minus sign included)."""
    texts = card(page, chart_id).locator(f".{axis}tick text").all_text_contents()
    return [float(t.replace("−", "-")) for t in texts if t.strip()]


LAYERS = list(range(7))
# A logit lens whose embeddings layer is near-uniform guessing: 108 nats, the rest 3–6 nats.
LENS = {
    "id": "lens",
    "title": "lens",
    "x": {"title": "layer ℓ"},
    "y": {"title": "nats", "rangeFrom": "estimates", "focusX": [1, 6]},
    "traces": [
        {"name": "mean NLL", "x": LAYERS, "y": [108.0, 6.1, 5.2, 4.4, 3.9, 3.6, 3.4]},
        {"name": "mean entropy", "x": LAYERS, "y": [10.8, 5.0, 4.5, 4.0, 3.6, 3.3, 3.2]},
    ],
}


def test_lens_axis_is_set_by_the_later_layers_with_layer0_off_scale(ui: UI) -> None:
    page = draw(ui, [LENS])
    ticks = tick_values(page, "lens")
    # The last layers' values are readable: the axis ends near 6 nats, not at 108.
    assert max(ticks) < 8 and min(ticks) >= 0
    caption = card(page, "lens").locator(".offscale").inner_text()
    assert "mean NLL 108 at layer 0" in caption and "mean entropy 10.8" in caption
    # Edge markers stand in for the off-scale points (their true value on hover).
    edge = page.eval_on_selector(
        "#test-charts figure[data-chart-id='lens'] .js-plotly-plot",
        "e => e.data.filter(t => String(t.name).endsWith('(off scale)')).map(t => t.text[0])",
    )
    assert edge == ["mean NLL: 108 (off scale)", "mean entropy: 10.8 (off scale)"]
    # The toggle shows the full range, and back.
    toggle = card(page, "lens").get_by_role("button", name="Full range")
    toggle.click()
    page.wait_for_function(
        "() => document.querySelector(\"#test-charts figure[data-chart-id='lens'] "
        ".range-toggle\").getAttribute('aria-pressed') === 'true'"
    )
    assert max(tick_values(page, "lens")) >= 100
    assert card(page, "lens").locator(".offscale").is_hidden()


def test_the_check_can_fail_without_range_from_estimates(ui: UI) -> None:
    """The same data without ``rangeFrom`` is scaled by layer 0: what the feature prevents."""
    plain = {**LENS, "id": "plain", "y": {"title": "nats"}}
    page = draw(ui, [plain])
    assert max(tick_values(page, "plain")) >= 100
    assert card(page, "plain").locator(".offscale").count() == 0


def test_vacuous_predictive_information_is_drawn_at_zero_not_minus_98(ui: UI) -> None:
    spec = {
        "id": "info",
        "title": "Predictive information per layer",
        "x": {"title": "layer ℓ"},
        "y": {"title": "nats", "rangeFrom": "estimates"},
        "traces": [
            {
                "name": "I ≥ H(Y) − CE",
                "x": [0, 1, 2, 3],
                "y": [-98.0, -2.0, 0.8, 1.6],
                "floor": {"value": 0, "label": "vacuous"},
            },
            {"name": "upper bound H(Y)", "x": [0, 3], "y": [7.5, 7.5], "role": "bound"},
        ],
    }
    page = draw(ui, [spec])
    ticks = tick_values(page, "info")
    assert min(ticks) >= 0 and max(ticks) < 3  # neither −98 nor the far bound sets the axis
    text = card(page, "info").inner_text()
    assert "Open markers on 0: vacuous." in text
    assert "upper bound H(Y) 7.5" in text  # the bound is named with its value
    hover = page.eval_on_selector(
        "#test-charts figure[data-chart-id='info'] .js-plotly-plot",
        "e => e.data[0].text.slice(0, 2)",
    )
    assert hover == ["vacuous (bound -98)", "vacuous (bound -2)"]


def test_fractions_have_no_si_prefixes_and_reliability_is_equal_aspect(ui: UI) -> None:
    spec = {
        "id": "cal",
        "title": "Top-1 calibration",
        "equalAspect": True,
        "x": {"title": "confidence", "fraction": True},
        "y": {"title": "accuracy", "fraction": True},
        "traces": [
            {"name": "accuracy in bin", "x": [2e-5, 6e-5, 1.2e-4], "y": [0.0, 3e-5, 1.1e-4]},
            {"name": "y = x", "x": [0, 1.2e-4], "y": [0, 1.2e-4], "role": "bound"},
        ],
    }
    page = draw(ui, [spec])
    labels = card(page, "cal").locator(".xtick text, .ytick text").all_text_contents()
    assert labels and not any(re.search(r"[μµmk]", t) for t in labels), labels
    assert any(t.startswith("0.0001") for t in labels), labels
    # Equal aspect: one unit is as many pixels on x as on y, so y = x is a 45° diagonal.
    scale = page.eval_on_selector(
        "#test-charts figure[data-chart-id='cal'] .js-plotly-plot",
        """e => ['xaxis', 'yaxis'].map(a => {
          const ax = e._fullLayout[a];
          return ax._length / (ax.range[1] - ax.range[0]);
        })""",
    )
    assert scale[0] == pytest.approx(scale[1], rel=0.02)


def test_log_axes_print_major_ticks_only(ui: UI) -> None:
    values = [10 ** (-k / 4) for k in range(25)]  # 1 … 1e-6
    spec = {
        "id": "spec",
        "title": "spectrum",
        "x": {"title": "index (log)", "log": True},
        "y": {"title": "eigenvalue (log)", "log": True},
        "traces": [{"name": "λ", "x": list(range(1, 26)), "y": values}],
    }
    page = draw(ui, [spec])
    labels = card(page, "spec").locator(".ytick text").all_text_contents()
    assert 3 <= len(labels) <= 8, labels
    for text in labels:  # every label a power of ten: 1, 0.01, 1e−5 …
        value = float(text.replace("−", "-"))
        assert abs(round(math.log10(value)) - math.log10(value)) < 1e-9


def test_empty_and_all_equal_series_get_a_message_instead_of_a_chart(ui: UI) -> None:
    specs = [
        {
            "id": "zeros",
            "title": "Drafting proxy: acceptance rate acc_j",
            "y": {"title": "fraction (0–1)"},
            "traces": [{"name": "acc_j", "x": [1, 2, 3], "y": [0, 0, 0], "kind": "bar"}],
        },
        {
            "id": "none",
            "title": "Expected accepted length",
            "y": {"title": "tokens"},
            "traces": [{"name": "len", "x": [1, 2], "y": [None, None]}],
        },
        {
            "id": "fine",
            "title": "one point with its interval",
            "y": {"title": "nats"},
            "traces": [{"name": "s", "x": [2], "y": [0.2], "low": [0.1], "high": [0.3]}],
        },
    ]
    page = draw(ui, specs)
    assert card(page, "zeros").locator(".chart-empty").inner_text() == (
        "Every value is 0 (fraction (0–1)): nothing to chart."
    )
    assert card(page, "none").locator(".chart-empty").inner_text().startswith("No values to chart")
    for chart_id in ("zeros", "none"):
        assert card(page, chart_id).locator(".js-plotly-plot").count() == 0
        assert card(page, chart_id).get_by_role("button").count() == 0  # nothing to export
    assert card(page, "fine").locator(".js-plotly-plot").count() == 1


def test_overlapping_series_with_repeated_colours_stay_distinguishable(ui: UI) -> None:
    x = [0, 1, 2, 3]
    traces = [
        {"name": f"A, kernel {k}", "x": x, "y": [1.0, 1.0, 0.99, 1.0], "colorIndex": k % 2}
        for k in range(4)
    ]
    page = draw(ui, [{"id": "align", "title": "Alignment", "traces": traces}])
    styles = page.eval_on_selector(
        "#test-charts figure[data-chart-id='align'] .js-plotly-plot",
        "e => e.data.map(t => [t.line.color, t.line.dash, t.marker.symbol])",
    )
    assert len({tuple(s) for s in styles}) == 4  # no two look alike
    assert len({s[0] for s in styles}) == 2  # although only two colours
    caption = card(page, "align").locator("figcaption").inner_text()
    assert "Drawn on top of each other (equal values): A, kernel 0 = A, kernel 1" in caption


def test_help_link_points_at_the_methods_section(ui: UI) -> None:
    spec = {
        "id": "h",
        "title": "Logit lens",
        "help": "lens",
        "note": "p^ℓ = softmax(U·norm(h^ℓ)).",
        "traces": [{"name": "a", "x": [0, 1], "y": [1, 2]}],
    }
    page = draw(ui, [spec])
    link = card(page, "h").get_by_role("link", name="About “Logit lens” (methods)")
    assert link.inner_text() == "?"
    assert link.get_attribute("href") == "/methods#lens"
    assert link.get_attribute("title") == "p^ℓ = softmax(U·norm(h^ℓ))."


def test_downloaded_figure_carries_title_model_corpus_and_provenance(
    ui: UI, tmp_path: Path
) -> None:
    spec = {
        "id": "fig",
        "title": "NLL by position",
        "note": "Shaded: 95% band.",
        "traces": [{"name": "NLL", "x": [1, 2, 3], "y": [3, 2.5, 2.2]}],
    }
    context = {
        "model": "<b>tiny</b> llama",
        "corpus": "builtin:python-docs",
        "provenance": "markovlens result #7 · seed 0",
    }
    page = draw(ui, [spec], context)
    with page.expect_download() as info:
        card(page, "fig").get_by_role("button", name="Download “NLL by position” as SVG").click()
    path = tmp_path / "fig.svg"
    info.value.save_as(path)
    assert info.value.suggested_filename == "fig.svg"
    svg = path.read_text()
    assert "<b>tiny" not in svg  # the model name is text, not markup
    svg = html.unescape(svg)
    for text in (
        "NLL by position",
        "model: <b>tiny</b> llama · corpus: builtin:python-docs",
        "markovlens result #7 · seed 0",
        "Shaded: 95% band.",
    ):
        assert text in svg, text
    assert "fill: rgb(255, 255, 255)" in svg or "fill:#ffffff" in svg.replace(" ", "")


def test_dark_theme_follows_the_system_setting_charts_too(browser: Any, service: Service) -> None:
    context = browser.new_context(color_scheme="dark", viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        ui = UI(page, service.base)
        page = draw(ui, [{"id": "d", "title": "t", "traces": [{"x": [1, 2], "y": [1, 3]}]}])
        body = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        paper_js = (
            "() => getComputedStyle(document.querySelector('#test-charts .main-svg'))"
            ".backgroundColor"
        )
        paper = page.evaluate(paper_js)
        assert body == "rgb(18, 21, 27)"
        assert paper == "rgb(27, 32, 41)"  # the dark card colour, not white
        page.emulate_media(color_scheme="light")  # the system switches back: charts follow
        page.wait_for_function(f"() => ({paper_js})() === 'rgb(255, 255, 255)'")
        ui.assert_clean()
    finally:
        context.close()


def page_bytes(page: Any) -> dict[str, Any]:
    """Bytes transferred for the document and every resource it fetched."""
    return dict(
        page.evaluate(
            """() => {
              const entries = [...performance.getEntriesByType('navigation'),
                               ...performance.getEntriesByType('resource')];
              return {total: entries.reduce((n, e) => n + e.transferSize, 0),
                      urls: entries.map(e => e.name)};
            }"""
        )
    )


def test_jobs_and_submit_load_no_plotly_and_the_dashboard_loads_the_basic_bundle(
    browser: Any, service: Service
) -> None:
    sizes = {}
    job = service.jobs["full"]
    for name, fragment in (
        ("jobs", "#/jobs"),
        ("submit", "#/submit"),
        ("models", "#/models"),
        ("dashboard", f"#/model/{job['model_id']}?result={job['result_id']}"),
    ):
        context = browser.new_context()  # a cold cache per page
        try:
            ui = UI(context.new_page(), service.base)
            page = ui.goto(fragment)
            page.wait_for_timeout(300)
            measured = page_bytes(page)
            sizes[name] = measured["total"]
            plotly = [u for u in measured["urls"] if "plotly" in u]
            if name in ("jobs", "submit", "models"):
                assert plotly == [], (name, plotly)
            else:
                assert any(u.endswith("/static/plotly.min.js") for u in plotly)
                assert page.locator("#panel-entropy .js-plotly-plot").count() >= 3
            assert not any("maplibre" in u for u in measured["urls"])
            ui.assert_clean()
        finally:
            context.close()
    print("bytes transferred per page:", json.dumps(sizes))
    assert sizes["jobs"] < 400_000 and sizes["submit"] < 400_000
    assert sizes["dashboard"] < 2_000_000  # the full bundle alone was 4.8 MB


def test_api_docs_work_with_the_network_blocked(browser: Any, service: Service) -> None:
    context = browser.new_context()
    outside: list[str] = []

    def only_local(route: Any) -> None:
        if route.request.url.startswith(service.base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        ui = UI(page, service.base)
        ui.goto("#/jobs")
        link = page.get_by_role("link", name="API docs")
        assert link.get_attribute("href") == "/docs"
        link.click()
        page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
        assert "markovlens" in page.locator(".swagger-ui .info .title").inner_text()
        page.wait_for_selector(".opblock-summary-path")
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert any("/api/v1/jobs" in p for p in paths), paths

        page.goto(f"{service.base}/redoc")
        page.wait_for_selector("h1", timeout=20_000)
        assert "markovlens" in page.locator("h1").first.inner_text()
        assert (
            page.get_by_text("/api/v1/jobs").count() > 0
            or page.locator("[role=menuitem], label").count() > 5
        )
        assert outside == [], outside
        assert errors == [], errors
    finally:
        context.close()


def test_real_dashboard_reliability_is_square_with_help_links_and_no_si_prefixes(
    ui: UI, service: Service
) -> None:
    job = service.jobs["full"]
    page = ui.goto(f"#/model/{job['model_id']}?result={job['result_id']}")
    for chart_id, anchor in (
        ("entropy.by_position", "nll"),
        ("entropy.calibration", "calibration"),
        ("entropy.reliability", "reliability"),
        ("lens.nats", "lens"),
        ("lens.predictive_info", "predictive-information"),
    ):
        link = page.locator(f"figure[data-chart-id='{chart_id}'] a.help")
        assert link.get_attribute("href") == f"/methods#{anchor}", chart_id
    for chart_id in ("entropy.calibration", "entropy.reliability"):
        scale = page.eval_on_selector(
            f"figure[data-chart-id='{chart_id}'] .js-plotly-plot",
            """e => ['xaxis', 'yaxis'].map(a => {
              const ax = e._fullLayout[a];
              return ax._length / (ax.range[1] - ax.range[0]);
            })""",
        )
        assert scale[0] == pytest.approx(scale[1], rel=0.02), chart_id
    labels = page.locator("#panel-entropy .xtick text, #panel-entropy .ytick text")
    texts = labels.all_text_contents()
    assert texts and not any(re.search(r"\d[μµmkMG]$", t) for t in texts), texts
    # Predictive information never goes below 0 on screen (a negative bound is vacuous).
    info_ticks = tick_values_in(page, "figure[data-chart-id='lens.predictive_info']")
    assert min(info_ticks) >= 0


def tick_values_in(page: Any, scope: str) -> list[float]:
    texts = page.locator(f"{scope} .ytick text").all_text_contents()
    return [float(t.replace("−", "-")) for t in texts if t.strip()]

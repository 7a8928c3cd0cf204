"""The compare page reads at a glance: what a person sees with two models.

The session's real results are compared; where a test needs known numbers (a difference and
its interval) or a known (in)comparability, the compare response is rewritten in flight.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import UI, Service

pytestmark = pytest.mark.browser


def set_headlines(body: dict[str, Any], by_position: list[dict[str, Any]]) -> None:
    """Give the i-th compared result's server headline the fields of ``by_position[i]``."""
    for item, fields in zip(body["items"], by_position, strict=True):
        rid = item["result"]["id"]
        entries = [e for e in item["model"]["latest"] if e["result_id"] == rid]
        assert entries, "the compared result is the model's latest"
        entries[0]["headline"].update(fields)


def ids(service: Service) -> list[int]:
    return [service.jobs[n]["result_id"] for n in ("full", "step100")]


def open_compare(
    ui: UI, service: Service, keys: tuple[str, str], corpora: tuple[str, str] = ("c", "c")
) -> Any:
    """Compare ``ids(service)`` with their headlines' contexts keys and corpus hashes set."""
    ui.rewrite(
        "**/api/v1/compare?*",
        lambda body: set_headlines(
            body,
            [
                {"contexts_key": key, "corpus_hash": corpus}
                for key, corpus in zip(keys, corpora, strict=True)
            ],
        ),
    )
    a, b = ids(service)
    page = ui.goto(f"#/compare?results={a},{b}")
    page.wait_for_selector("figure.chart .js-plotly-plot")
    return page


def key_colours(page: Any) -> dict[str, str]:
    """Model label -> its colour in the shared key."""
    return dict(
        page.eval_on_selector_all(
            "#compare-key .key-item",
            "els => els.map(e => [e.querySelector('a').textContent, e.dataset.color])",
        )
    )


def test_one_colour_per_model_on_every_chart_and_legends_that_fit(ui: UI, service: Service) -> None:
    page = open_compare(ui, service, ("same", "same"))
    colours = key_colours(page)
    assert len(colours) == 2 and len(set(colours.values())) == 2
    # The key's swatch is painted in the colour the charts use.
    swatch = page.eval_on_selector(
        "#compare-key .key-item .swatch", "e => getComputedStyle(e).backgroundColor"
    )
    first = next(iter(colours.values()))
    rgb = tuple(int(first[i : i + 2], 16) for i in (1, 3, 5))
    assert swatch == f"rgb({rgb[0]}, {rgb[1]}, {rgb[2]})"

    charts = page.eval_on_selector_all(
        "figure.chart:not([data-empty])",  # message cards (empty charts) have no plot
        """els => els.map(f => {
          const plot = f.querySelector('.js-plotly-plot');
          const box = f.getBoundingClientRect();
          const legend = f.querySelector('.legend');
          const lb = legend ? legend.getBoundingClientRect() : null;
          const drag = f.querySelector('.nsewdrag');
          return {id: f.dataset.chartId,
            legendInside: !lb || (lb.left >= box.left - 1 && lb.right <= box.right + 1
              && lb.top >= box.top - 1 && lb.bottom <= box.bottom + 1),
            plotHeight: drag ? drag.getBoundingClientRect().height : 0,
            traces: (plot.data || []).filter(t => t.showlegend !== false && t.line)
              .map(t => [t.name, t.line.color])};
        })""",
    )
    assert len(charts) >= 10
    seen: dict[str, set[str]] = {label: set() for label in colours}
    for chart in charts:
        assert chart["legendInside"], chart["id"]
        assert chart["plotHeight"] >= 200, chart  # not squeezed by a legend
        for name, colour in chart["traces"]:
            # Plotly holds escaped names ("&lt;img…"); match on the escaped label.
            for label in colours:
                escaped = label.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                if name == escaped or name.startswith(f"{escaped} — "):
                    seen[label].add(colour)
    for label, colour in colours.items():
        assert seen[label] == {colour}, (label, seen[label])
    # Both models' curves are on the position chart; line style tells NLL from entropy.
    position = next(c for c in charts if c["id"] == "entropy.by_position")
    curves = [
        n for n, _ in position["traces"] if n.endswith(("— NLL (mean)", "— Entropy H(p) (mean)"))
    ]
    assert len(curves) == 4
    caption = page.locator("figure[data-chart-id='entropy.by_position'] figcaption").inner_text()
    assert "solid: NLL (mean)" in caption and "dashed: Entropy H(p) (mean)" in caption
    # Each model's own upper bound on Surplus_K (different corpora: different bounds).
    by_k = next(c for c in charts if c["id"] == "surplus.by_k")
    bounds = [colour for name, colour in by_k["traces"] if "— upper bound" in name]
    assert sorted(bounds) == sorted(colours.values())
    # The shared key fits (no scrollbar), and no chart title names one model's number.
    assert page.evaluate(
        "() => { const k = document.getElementById('compare-key');"
        " return k.scrollWidth <= k.clientWidth; }"
    )
    titles = page.locator("figure.chart h3").all_inner_texts()
    assert "Top-1 calibration" in titles and not any("ECE" in t for t in titles)
    ece = page.locator("#compare-table tr[data-metric='ece'] td").all_inner_texts()
    assert len(ece) == 3 and all(t not in ("", "—") for t in ece[:2])
    # Spectral charts are overlaid when the contexts match.
    assert any(c["id"].startswith("spectral.") for c in charts)


def test_difference_column_with_its_interval(ui: UI, service: Service) -> None:
    def edit(body: dict[str, Any]) -> None:
        nll = [
            {"estimate": 2.0, "low": 1.9, "high": 2.1},
            {"estimate": 2.5, "low": 2.3, "high": 2.7},
        ]
        for item, value in zip(body["items"], nll, strict=True):
            item["result"]["result"]["entropy"]["summary"]["mean_nll"] = value
        lift = [(1.2, 1.1, 1.3), (1.5, 1.4, 1.6)]
        set_headlines(
            body,
            [
                {
                    "contexts_key": "same",
                    "corpus_hash": "c",
                    "mean_nll": None,
                    "alignment_kernel": "lin",
                    "alignment_lift_last": e,
                    "alignment_lift_last_low": lo,
                    "alignment_lift_last_high": hi,
                }
                for e, lo, hi in lift
            ],
        )

    ui.rewrite("**/api/v1/compare?*", edit)
    a, b = ids(service)
    page = ui.goto(f"#/compare?results={a},{b}")
    row = page.locator("#compare-table tr[data-metric='mean_nll'] td")
    assert row.nth(0).locator(".v").inner_text() == "2 [1.9, 2.1]"
    assert row.nth(1).locator(".v").inner_text() == "2.5 [2.3, 2.7]"
    # 0.5 ± √(0.2² + 0.1²) = 0.5 ± 0.2236
    assert row.nth(2).inner_text() == "+0.5 [0.2764, 0.7236]"
    lift = page.locator("#compare-table tr[data-metric='alignment_lift_last'] td")
    assert lift.nth(2).inner_text() == "+0.3 [0.1586, 0.4414]"
    head = page.locator("#compare-table thead th.diff").inner_text()
    assert head.startswith("Δ ")
    assert page.locator("#compare-comparability").count() == 0


def test_lifts_on_different_contexts_are_said_not_comparable(ui: UI, service: Service) -> None:
    page = open_compare(ui, service, ("contexts-a", "contexts-b"))
    note = page.locator("#compare-comparability")
    assert note.is_visible()
    assert "not comparable" in note.inner_text() and "different" in note.inner_text()
    assert len(note.locator("li").all_inner_texts()) == 2
    lift = page.locator("#compare-table tr[data-metric='alignment_lift_last'] td")
    assert lift.nth(2).inner_text() == "not comparable"
    # Not on one axis: no spectral chart, links to each model's Spectrum tab instead.
    chart_ids = page.eval_on_selector_all("figure.chart", "els => els.map(e => e.dataset.chartId)")
    assert chart_ids and not any(c.startswith("spectral.") for c in chart_ids)
    links = page.locator("main a[href*='tab=spectrum']")
    assert links.count() == 2
    # NLL is not context-bound: on one corpus its difference is still computed.
    assert page.locator("#compare-table tr[data-metric='mean_nll'] td").nth(2).inner_text() != (
        "not comparable"
    )


def test_results_on_different_corpora_get_no_difference_at_all(ui: UI, service: Service) -> None:
    page = open_compare(ui, service, ("contexts-a", "contexts-b"), ("corpus-a", "corpus-b"))
    assert "different corpora" in page.locator("#compare-comparability").inner_text()
    for metric in ("mean_nll", "calibration_gap", "alignment_lift_last"):
        cells = page.locator(f"#compare-table tr[data-metric='{metric}'] td")
        assert cells.nth(2).inner_text() == "not comparable", metric
        assert cells.nth(0).inner_text() not in ("", "—")  # each model's own number stays


def test_models_are_added_and_removed_on_the_page(ui: UI, service: Service) -> None:
    a, b = ids(service)
    page = ui.goto(f"#/compare?results={a},{b}")
    assert len(key_colours(page)) == 2
    second = page.locator("#compare-key .key-item").nth(1)
    label_b = second.locator("a").inner_text()
    remove = second.locator("button.remove")
    assert remove.get_attribute("aria-label") == f"Remove {label_b} from the comparison"
    remove.click()
    page.wait_for_function(
        "f => document.querySelector('main').dataset.renderedHash === f "
        "&& document.querySelector('main').dataset.ready === 'true'",
        arg=f"#/compare?results={a}",
    )
    assert len(key_colours(page)) == 1
    step200 = service.jobs["step200"]["result_id"]
    page.select_option("#compare-add", str(step200))
    page.wait_for_function(
        "f => document.querySelector('main').dataset.renderedHash === f "
        "&& document.querySelector('main').dataset.ready === 'true'",
        arg=f"#/compare?results={a},{step200}",
    )
    assert len(key_colours(page)) == 2
    assert page.locator("#compare-table thead th.diff").count() == 1
    # The picker offers only results not already compared.
    offered = page.eval_on_selector_all("#compare-add option", "els => els.map(e => e.value)")
    assert str(a) not in offered and str(step200) not in offered


def test_compare_csv_is_the_servers(ui: UI, service: Service) -> None:
    a, b = ids(service)
    page = ui.goto(f"#/compare?results={a},{b}")
    with page.expect_download() as dl:
        page.click("#export-csv")
    text = Path(dl.value.path()).read_text()
    assert text == service.api.get(f"/api/v1/compare/csv?result_ids={a},{b}").text
    assert text.startswith("result_id,path,value\n")


def test_three_models_split_crowded_charts_into_small_multiples(ui: UI, service: Service) -> None:
    three = [service.jobs[n]["result_id"] for n in ("full", "step100", "step200")]
    ui.rewrite(
        "**/api/v1/compare?*",
        lambda body: set_headlines(body, [{"contexts_key": "same", "corpus_hash": "c"}] * 3),
    )
    page = ui.goto(f"#/compare?results={','.join(map(str, three))}")
    page.wait_for_selector("figure.chart .js-plotly-plot")
    charts = page.eval_on_selector_all(
        "figure.chart:not([data-empty])",  # a message card in place of an empty chart has no plot
        """els => els.map(f => [f.dataset.chartId, f.querySelector('h3').textContent,
          (f.querySelector('.js-plotly-plot').data || [])
            .filter(t => t.showlegend !== false && t.type === 'scatter').length])""",
    )
    assert all(lines <= 8 for _, _, lines in charts), charts
    # Two quantities × three models fit one chart; eight kernel spectra do not.
    assert "lens.agreement" in [c[0] for c in charts]
    spectra = [c for c in charts if c[0].startswith("spectral.kernel_spectra~")]
    assert len(spectra) >= 2 and all(":" in title or " of " in title for _, title, _ in spectra)

"""Small things a new user met: what each page shows instead, as a person sees it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import UI, Service

pytestmark = pytest.mark.browser


def test_compare_fisher_caption_names_every_models_retained_mass(ui: UI, service: Service) -> None:
    ids = [service.jobs[n]["result_id"] for n in ("full", "step100")]
    masses = {ids[0]: 0.111, ids[1]: 0.222}

    def same_contexts(body: dict[str, Any]) -> None:
        # Two results on one axis need the same contexts: say so, and give them distinct masses.
        for item in body["items"]:
            rid = item["result"]["id"]
            item["result"]["result"]["spectral"]["fisher"]["retained_mass"] = masses[rid]
            for entry in item["model"].get("latest") or []:
                entry["headline"].update(contexts_key="same", corpus_hash="same")

    ui.rewrite("**/api/v1/compare*", same_contexts)
    page = ui.goto(f"#/compare?results={ids[0]},{ids[1]}")
    caption = page.locator("figure[data-chart-id='spectral.fisher'] figcaption").inner_text()
    assert "0.111" in caption and "0.222" in caption
    labels = page.locator("#compare-key .key-item a").all_inner_texts()
    assert f"{labels[0]} 0.111" in caption and f"{labels[1]} 0.222" in caption


def test_compare_with_one_missing_result_names_it_and_shows_the_rest(
    ui: UI, service: Service
) -> None:
    found = service.jobs["full"]["result_id"]
    ui.expect_error("404")  # the browser logs the refused request itself
    page = ui.goto(f"#/compare?results={found},999999")
    text = page.locator("main").inner_text()
    assert "Result 999999 not found" in text
    assert page.locator("main [role=alert]").count() == 0  # not an error page
    assert page.locator("#compare-key .key-item").count() == 1
    assert page.locator("#compare-table tbody tr").count() >= 3
    assert page.locator("figure.chart").count() > 0


def test_compare_with_only_missing_results_says_so(ui: UI) -> None:
    ui.expect_error("404")
    page = ui.goto("#/compare?results=999998,999999")
    assert "Results 999998, 999999 not found" in page.locator("main").inner_text()
    assert page.locator("main [role=alert]").count() == 0
    assert page.get_by_role("link", name="Go to Models").count() == 1


def test_redoc_page_loads_nothing_the_policy_blocks(ui: UI, service: Service) -> None:
    page = ui.page
    page.goto(f"{service.base}/redoc")
    page.wait_for_selector("h1", timeout=20_000)
    # The menu footer's logo is drawn after mounting: give it time to load (or be refused).
    page.wait_for_selector("img[alt='redocly logo']", state="attached", timeout=10_000)
    page.wait_for_timeout(500)
    src = page.get_attribute("img[alt='redocly logo']", "src") or ""
    assert src.startswith("/"), src  # served here, not from a CDN
    assert [e for e in ui.errors if "Content Security Policy" in e] == []
    assert not any("redoc.ly" in u for u in ui.requests), ui.requests

"""Surplus_K that is not detected (95% interval not above 0) reads "not detected", not 0 [0, 0].

The pages render the session's real results with their surplus section rewritten in flight
(Playwright routes): one result as stored before the ``detected`` field with Surplus_2 =
0 [0, 0] (the random-init case), one with a detected Surplus_2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import UI, Service

pytestmark = pytest.mark.browser

ZERO = {"estimate": 0.0, "low": 0.0, "high": 0.0}
FOUND = {"estimate": 0.3, "low": 0.2, "high": 0.4}
UPPER = 1.25  # Surplus_2's upper bound in the rewritten results


def older_zero(surplus: dict[str, Any]) -> None:
    """A result stored before ``detected``/``state_used``, whose Surplus_2 is 0 [0, 0]."""
    surplus["surplus"]["2"] = ZERO
    surplus["bounds"]["2"]["high"] = UPPER
    surplus.pop("detected", None)
    surplus.pop("verdict", None)
    for term in surplus["terms"].values():
        term.pop("state_used", None)


def detected(surplus: dict[str, Any]) -> None:
    surplus["surplus"]["2"] = FOUND
    surplus["bounds"]["2"]["high"] = UPPER
    surplus["detected"] = {k: True for k in surplus["surplus"]}
    surplus["verdict"] = {k: "detected" for k in surplus["surplus"]}


def surplus_row(page: Any) -> str:
    row = page.locator("#panel-surplus table.scalars tr", has_text="Surplus K=2").first
    return str(row.inner_text())


def by_k_symbols(page: Any) -> list[str]:
    return list(
        page.eval_on_selector(
            "figure[data-chart-id='surplus.by_k'] .js-plotly-plot",
            "e => [].concat(e.data.find(t => t.name.startsWith('Surplus_K')).marker.symbol)",
        )
    )


@pytest.mark.parametrize(
    ("edit", "shown", "symbol"),
    [(older_zero, "not detected (≤ 1.25)", "circle-open"), (detected, "0.3 [0.2, 0.4]", "circle")],
)
def test_dashboard_says_not_detected_instead_of_a_zero_interval(
    ui: UI, service: Service, edit: Callable[[dict[str, Any]], None], shown: str, symbol: str
) -> None:
    job = service.jobs["full"]
    ui.rewrite(
        f"**/api/v1/results/{job['result_id']}", lambda body: edit(body["result"]["surplus"])
    )
    page = ui.goto(f"#/model/{job['model_id']}?result={job['result_id']}&tab=surplus")
    page.wait_for_selector("figure[data-chart-id='surplus.by_k'] .js-plotly-plot")
    row = surplus_row(page)
    assert shown in row and "nats" in row
    if edit is older_zero:
        assert "0 [0, 0]" not in row
    assert by_k_symbols(page)[0] == symbol


def test_models_and_compare_show_not_detected_for_surplus_2(ui: UI, service: Service) -> None:
    ids = [service.jobs[n]["result_id"] for n in ("full", "step100")]
    zero_id, found_id = ids

    def models(body: list[dict[str, Any]]) -> None:
        for model in body:
            for entry in model.get("latest") or []:
                if entry["result_id"] == zero_id:
                    entry["headline"].update(
                        surplus_k2=0.0,
                        surplus_k2_detected=False,
                        surplus_k2_upper=UPPER,
                        surplus_k2_low=0.0,
                        surplus_k2_high=0.0,
                        surplus_k2_verdict="not detected",
                    )
                elif entry["result_id"] == found_id:
                    entry["headline"].update(
                        surplus_k2=0.3,
                        surplus_k2_detected=True,
                        surplus_k2_low=0.2,
                        surplus_k2_high=0.4,
                        surplus_k2_verdict="detected",
                    )

    def compare(body: dict[str, Any]) -> None:
        for item in body["items"]:
            surplus = item["result"]["result"]["surplus"]
            (older_zero if item["result"]["id"] == zero_id else detected)(surplus)
            # The page prefers the server's headline where it has one: rewrite it alike.
            models([item["model"]])

    ui.rewrite("**/api/v1/models", models)
    ui.rewrite("**/api/v1/compare*", compare)
    page = ui.goto("#/models")
    cell = "#models-table tr[data-result-id='{}'] td[data-col='surplus'] .v"
    assert page.locator(cell.format(zero_id)).inner_text() == "not detected (≤ 1.25)"
    assert page.locator(cell.format(found_id)).inner_text() == "0.3 [0.2, 0.4]"

    page = ui.goto(f"#/compare?results={zero_id},{found_id}")
    cells = page.locator("#compare-table tr[data-metric='surplus_k2'] td .v").all_inner_texts()
    assert cells == ["not detected (≤ 1.25)", "0.3 [0.2, 0.4]"]

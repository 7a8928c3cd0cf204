"""Headline numbers that explain themselves (models list and dashboard cards).

The server headlines of the session's real results are rewritten in flight to known values
(the contract's fields: model-free lift, own-prototype lift, surplus verdict and cap, ECE),
so the tests can assert the exact text a person reads.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import UI, Service

pytestmark = pytest.mark.browser

UNCERTAIN = {  # a near-uniform model whose surplus had too few windows, probes capped
    "calibration_gap": 0.217,
    "calibration_gap_low": None,
    "calibration_gap_high": None,
    "ece": 0.0001,
    "calibration_gap_relative": 0.02,
    "surplus_k2": 0.01,
    "surplus_k2_low": -0.02,
    "surplus_k2_high": 0.04,
    "surplus_k2_verdict": "insufficient data",
    "surplus_k2_detected": False,
    "surplus_k2_upper": 1.25,
    "surplus_capped": True,
    "alignment_kernel": "lin",
    "alignment_lift_last": 1.287,
    "alignment_lift_last_low": 1.2,
    "alignment_lift_last_high": 1.37,
    "alignment_lift_proto_last": 1.506,
    "alignment_lift_proto_last_low": 1.4,
    "alignment_lift_proto_last_high": 1.6,
}
NOT_DETECTED = {
    "surplus_k2": 0.0,
    "surplus_k2_low": -0.1,
    "surplus_k2_high": 0.1,
    "surplus_k2_verdict": "not detected",
    "surplus_k2_detected": False,
    "surplus_k2_upper": 9.681,
    "surplus_capped": False,
}


def edit_model(model: dict[str, Any], service: Service) -> None:
    near_uniform = {"mean_entropy": 0.95 * math.log(model["vocab_size"])}
    for entry in model.get("latest") or []:
        if entry["result_id"] == service.jobs["full"]["result_id"]:
            entry["headline"].update(UNCERTAIN, **near_uniform)
        elif entry["result_id"] == service.jobs["step100"]["result_id"]:
            entry["headline"].update(NOT_DETECTED)


def cell(page: Any, rid: int, col: str) -> Any:
    return page.locator(f"#models-table tr[data-result-id='{rid}'] td[data-col='{col}']")


def test_models_list_columns_explain_themselves(ui: UI, service: Service) -> None:
    ui.rewrite("**/api/v1/models", lambda body: [edit_model(m, service) for m in body])
    page = ui.goto("#/models")
    # Every headline column: definition, good direction, chance level, methods link.
    expected = {
        "nll": ("lower is better", "ln V", "/methods#nll"),
        "gap": ("closer to 0", "uniform predictor has gap 0", "/methods#calibration"),
        "surplus": ("not detected (≤ b)", "insufficient data", "/methods#verdicts"),
        "lift": ("model-free", "1 = chance", "/methods#alignment"),
        "lift_proto": ("own unembedding prototypes", "1 = chance", "/methods#kernels"),
        "erank": ("Effective rank", "no better direction", "/methods#representation"),
    }
    for col, needles in expected.items():
        th = page.locator(f"#models-table th[data-col='{col}']")
        title = th.get_attribute("title") or ""
        assert all(n in title for n in needles), (col, title)
        assert "Good:" in title and "Chance:" in title
        assert th.locator("a.help").get_attribute("href") == needles[2]
    assert "own prototypes" in page.locator("th[data-col='lift_proto']").inner_text()
    assert "↓" in page.locator("th[data-col='nll']").inner_text()

    full = service.jobs["full"]["result_id"]
    # The NLL with its bootstrap interval, from the server's headline.
    nll = cell(page, full, "nll").locator(".v").inner_text()
    assert re.fullmatch(r"[\d.]+ \[[\d.]+, [\d.]+\]", nll), nll
    # The model-free lift with its interval; the own-prototype one beside it, labelled.
    assert cell(page, full, "lift").locator(".v").inner_text() == "1.287 [1.2, 1.37]"
    assert cell(page, full, "lift_proto").locator(".v").inner_text() == "1.506 [1.4, 1.6]"
    # Calibration does not reward a near-uniform model: ECE beside the gap, and a flag.
    gap = cell(page, full, "gap")
    assert gap.locator(".v").inner_text() == "0.217"
    assert gap.locator(".sub").inner_text() == "ECE 1.00e-4 · gap/H 2.0%"
    assert gap.locator(".warn").inner_text() == "⚠ near-uniform"
    assert "trivial" in (gap.locator(".warn").get_attribute("title") or "")
    # Surplus: the verdict, the estimate with its interval, the cap warning.
    surplus = cell(page, full, "surplus")
    assert surplus.locator(".v").inner_text() == "insufficient data"
    assert surplus.locator(".sub").inner_text() == "estimate 0.01 [-0.02, 0.04]"
    assert surplus.locator(".warn").inner_text() == "⚠ probe capped"
    assert "step cap" in (surplus.locator(".warn").get_attribute("title") or "")
    step100 = service.jobs["step100"]["result_id"]
    other = cell(page, step100, "surplus")
    assert other.locator(".v").inner_text() == "not detected (≤ 9.681)"
    assert other.locator(".sub").inner_text() == "estimate 0 [-0.1, 0.1]"
    assert other.locator(".warn").count() == 0
    # A value's tooltip repeats the definition with the value.
    assert "1 = chance" in (cell(page, full, "lift").get_attribute("title") or "")

    # Revision: what the weights resolved to (a local directory: "local"), never a hash;
    # the content hash abbreviated in the tooltip.
    rev = cell(page, full, "revision")
    assert rev.inner_text() == "local"
    model = service.api.get(f"/api/v1/models/{service.jobs['full']['model_id']}").json()
    tip = rev.get_attribute("title") or ""
    if model["content_hash"]:
        assert model["content_hash"] not in tip
        assert re.search(r"content hash (\w+:)?[0-9a-f]{12}…", tip), tip


def test_dashboard_headline_cards_and_the_servers_csv(
    ui: UI, service: Service, tmp_path: Path
) -> None:
    job = service.jobs["full"]
    ui.rewrite(f"**/api/v1/models/{job['model_id']}", lambda body: edit_model(body, service))
    page = ui.goto(f"#/model/{job['model_id']}?result={job['result_id']}")
    cards = page.locator("#headline-cards")
    lift = cards.locator("[data-metric='alignment_lift_last']")
    assert lift.locator(".stat-value .v").inner_text() == "1.287 [1.2, 1.37]"
    assert "1 = chance" in (lift.get_attribute("title") or "")
    assert lift.locator("a.help").get_attribute("href") == "/methods#alignment"
    proto = cards.locator("[data-metric='alignment_lift_proto_last']")
    assert "own prototypes" in proto.locator(".stat-label").inner_text()
    surplus = cards.locator("[data-metric='surplus_k2']")
    assert surplus.locator(".v").inner_text() == "insufficient data"
    assert "step cap" in (surplus.locator(".warn").get_attribute("title") or "")
    assert "near-uniform" in cards.locator("[data-metric='calibration_gap'] .warn").inner_text()
    # NLL: its bootstrap interval, from the stored result.
    nll = cards.locator("[data-metric='mean_nll'] .v").inner_text()
    assert re.fullmatch(r"[\d.]+ \[[\d.]+, [\d.]+\]", nll), nll
    for card in cards.locator(".stat").all():
        title = card.get_attribute("title") or ""
        assert "Good:" in title and "Chance:" in title and "/methods#" in title

    # Export CSV is the server's CSV, byte for byte (one format, made in one place).
    with page.expect_download() as dl:
        page.click("#export-csv")
    text = Path(dl.value.path()).read_text()
    assert text == service.api.get(f"/api/v1/results/{job['result_id']}/csv").text
    assert "[" not in text.split("\n", 1)[1]  # list items as ".0", never "[0]"


def test_headline_merge_never_labels_an_own_prototype_lift_model_free(ui: UI) -> None:
    """Known answers of headlines.js: which lift is which, verdicts, differences."""
    page = ui.goto("#/jobs")
    out = page.evaluate(
        """async () => {
          const m = await import('/js/headlines.js');
          const row = (layer, kernel, lift) => ({layer, kernel, side: 'data', lift,
            lift_interval: {estimate: lift, low: lift - 0.1, high: lift + 0.1}});
          const result = {spectral: {alignment: [row(0, 'lin', 1.1), row(3, 'lin', 1.287),
            row(3, 'proto', 1.506), {...row(3, 'lin', 9), side: 'model'}]},
            surplus: {surplus: {'2': {estimate: 0, low: -0.1, high: 0.1}},
                      bounds: {'2': {low: 0, high: 9.681}}}};
          // A server headline from before the model-free lift (K_proto first, no kernel).
          const old = {alignment_lift_last: 1.506, alignment_lift_last_low: 1.4,
                       alignment_lift_last_high: 1.6};
          const fromDoc = m.headlineOf(result, old);
          const serverOnly = m.headlineOf(null, old);
          const lin = m.headlineOf(null, {...old, alignment_kernel: 'lin'});
          const surplus = m.metric('surplus_k2');
          return {
            doc: [fromDoc.alignment_lift_last, fromDoc.alignment_lift_last_low,
                  fromDoc.alignment_lift_proto_last],
            server: [serverOnly.alignment_lift_last ?? null, serverOnly.alignment_lift_proto_last],
            lin: [lin.alignment_lift_last, lin.alignment_lift_proto_last ?? null],
            verdict: [m.metricText(surplus, fromDoc), m.surplusVerdict(fromDoc)],
            insufficient: m.metricText(surplus, {surplus_k2: 0.2, surplus_k2_verdict:
              'insufficient data', surplus_k2_detected: false}),
            diff: m.fmtDifference(m.difference({estimate: 1, low: 0.7, high: 1.4},
                                               {estimate: 2, low: 1.6, high: 2.3})),
            noInterval: m.fmtDifference(m.difference({estimate: 1}, {estimate: 0.5,
                                                                     low: 0.4, high: 0.6})),
          };
        }"""
    )
    # The document's last-layer data-side lin row is the model-free lift; proto is labelled.
    assert out["doc"] == [1.287, pytest.approx(1.187), 1.506]
    # An older server headline's lift is shown as the own-prototype one, never model-free.
    assert out["server"] == [None, 1.506]
    assert out["lin"] == [1.506, None]
    assert out["verdict"] == ["not detected (≤ 9.681)", "not detected"]
    assert out["insufficient"] == "insufficient data"
    # 1 ± √(0.4² + 0.4²) on the low side, √(0.3² + 0.3²) on the high side.
    assert out["diff"] == "+1 [0.4343, 1.424]"
    assert out["noInterval"] == "-0.5"


def test_a_model_without_a_result_says_why(ui: UI, service: Service) -> None:
    """A model whose only job failed is listed with "no result yet" and the job's reason."""
    failed = {
        "id": 9001,
        "model_id": 9001,
        "status": "failed",
        "error": "CUDA out of memory\nTraceback (most recent call last): ...",
    }

    def add_model(body: list[dict[str, Any]]) -> None:
        body.append(
            {
                **body[0],
                "id": 9001,
                "source": "hf:nobody/broken",
                "label": None,
                "run_name": None,
                "training_step": None,
                "latest": [],
            }
        )

    ui.rewrite("**/api/v1/models", add_model)
    ui.page.route(
        "**/api/v1/jobs?*model_id=9001*",
        lambda route: route.fulfill(
            json={"items": [{**service.jobs["full"], **failed}], "total": 1}
        ),
    )
    page = ui.goto("#/models")
    row = page.locator("#models-table tr[data-model-id='9001']")
    assert "hf:nobody/broken" in row.locator("td.name").inner_text()
    status = row.locator("td[data-col='status']")
    assert status.inner_text() == ("No result yet — last job failed: CUDA out of memory job #9001")
    assert "Traceback" in (status.get_attribute("title") or "")
    assert status.locator("a").get_attribute("href") == "#/job/9001"
    # Nothing to compare: its checkbox is off; the rows with results are still listed.
    assert row.locator("input[type=checkbox]").is_disabled()
    rid = service.jobs["full"]["result_id"]
    assert page.locator(f"#models-table tr[data-result-id='{rid}']").count() == 1

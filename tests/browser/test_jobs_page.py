"""Jobs: a failed job's red bar, the job page (config, timings, log), edit and resubmit, ETA,
and a Submit form that takes its limits, presets and synthetic-corpus models from the server."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from tests.browser.conftest import FIXTURE, SYNTHETIC, TERMINAL, UI, Service

pytestmark = pytest.mark.browser

# Decodes a PNG in the page (no imaging library here) and counts its pixels by hue family.
_PIXELS = """async (b64) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + b64;
  await img.decode();
  const c = document.createElement('canvas');
  c.width = img.width; c.height = img.height;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  const out = {red: 0, blue: 0, green: 0, reds: []};
  for (let i = 0; i < d.length; i += 4) {
    const [r, g, b] = [d[i], d[i + 1], d[i + 2]];
    if (r > 120 && r > 2 * g && r > 2 * b) { out.red += 1; out.reds.push([r, g, b]); }
    if (b > 120 && b > r + 60) out.blue += 1;
    if (g > 100 && g > r + 40 && g > b + 20) out.green += 1;
  }
  out.reds = out.reds.slice(0, 5);
  return out;
}"""


def bar_pixels(page: Any, locator: Any) -> dict[str, Any]:
    png = locator.screenshot()
    return dict(page.evaluate(_PIXELS, base64.b64encode(png).decode()))


def test_a_failed_job_shows_a_red_bar_its_page_and_can_be_edited_and_resubmitted(
    ui: UI, service: Service
) -> None:
    # Layer 999 passes the form and the API (the model is unknown there) and fails in the
    # analysis, after loading: a real failed job.
    job = service.submit(
        model=f"local:{service.models['llama']}", corpus="builtin:python-docs",
        preset="quick", config={**FIXTURE, "layers": [999]},
    )  # fmt: skip
    page = ui.goto(f"#/jobs?highlight={job['id']}")
    row = page.locator(f"#jobs-table tr[data-job-id='{job['id']}']")
    stages: set[str] = set()
    etas: set[str] = set()
    for _ in range(480):  # ≤ 120 s
        if row.get_attribute("data-status") in TERMINAL:
            break
        stages.add(row.locator(".stage").inner_text())
        etas.add(row.locator(".eta").inner_text())
        page.wait_for_timeout(250)
    assert row.get_attribute("data-status") == "failed", row.inner_text()
    # While it ran, the loading phase reported itself with its elapsed time, and an ETA or
    # "estimating" was shown (not a bar silently stuck at 0%).
    assert any(re.search(r"(importing libraries|loading model|loading corpus)", s) for s in stages)
    assert any(re.search(r"\(\d+ s\)", s) for s in stages), stages
    assert any("left" in e or "estimating" in e for e in etas), etas

    bar = row.locator("progress")
    assert "status-failed" in (bar.get_attribute("class") or "")
    assert re.fullmatch(r"failed at \d+%", row.locator(".pct").inner_text())
    pixels = bar_pixels(page, bar)
    assert pixels["red"] > 0 and pixels["blue"] == 0, pixels
    # The fill is the stylesheet's "bad" red, not the running blue.
    bad = page.evaluate(
        "() => getComputedStyle(document.documentElement).getPropertyValue('--bad').trim()"
    )
    want = tuple(int(bad[i : i + 2], 16) for i in (1, 3, 5))
    assert any(all(abs(a - b) <= 40 for a, b in zip(px, want, strict=True))
               for px in pixels["reds"]), (pixels["reds"], want)  # fmt: skip
    # For contrast: a succeeded job's bar is green, not red.
    done = page.locator(f"#jobs-table tr[data-job-id='{service.jobs['full']['id']}'] progress")
    ok = bar_pixels(page, done)
    assert ok["green"] > 0 and ok["red"] == 0, ok

    # Its page: config, log with the error, no stage timings (it never finished the analysis).
    row.locator(f"a[href='#/job/{job['id']}']").click()
    page.wait_for_selector("#job-log")
    log = page.locator("#job-log li").all_inner_texts()
    assert "submitted" in log[0] and "started" in log[1]
    assert "failed" in log[-1] and "999" in log[-1]
    assert page.locator("#job-log li.error").count() == 1
    assert json.loads(page.locator("#job-config").inner_text())["layers"] == [999]
    assert "status-failed" in (page.locator("#job-status progress").get_attribute("class") or "")

    # Edit and resubmit: the form comes pre-filled with the job's sources and overrides.
    page.click("#resubmit")
    page.wait_for_selector("#from-note")
    assert page.input_value("#model") == f"local:{service.models['llama']}"
    assert page.input_value("#corpus") == "builtin:python-docs"
    assert page.input_value("#preset") == "quick"
    assert page.input_value("#window_len") == str(FIXTURE["window_len"])
    assert page.input_value("#n_contexts") == str(FIXTURE["n_contexts"])
    extra = json.loads(page.input_value("#extra"))
    assert extra["layers"] == [999] and extra["surplus"]["max_steps"] == 20
    assert page.is_checked("#force")
    extra.pop("layers")
    page.fill("#extra", json.dumps(extra))
    page.click("#submit-job")
    page.wait_for_selector("#submit-status[data-job-id]")
    new_id = int(page.get_attribute("#submit-status", "data-job-id") or 0)
    resubmitted = service.api.get(f"/api/v1/jobs/{new_id}").json()
    assert new_id != job["id"] and resubmitted["config"]["layers"] is None
    assert resubmitted["config"]["n_contexts"] == FIXTURE["n_contexts"]
    assert resubmitted["config"]["surplus"]["max_steps"] == 20
    # Not needed further: cancel it (it would otherwise become the model's latest result, which
    # the models-list tests of this package read).
    assert service.api.post(f"/api/v1/jobs/{new_id}/cancel").status_code == 200


def test_a_succeeded_jobs_page_has_its_stage_timings(ui: UI, service: Service) -> None:
    job = service.jobs["full"]
    page = ui.goto(f"#/job/{job['id']}")
    stages = page.locator("#job-stages tbody th").all_inner_texts()
    assert stages[:2] == ["capture", "lens"]
    seconds = [float(t) for t in page.locator("#job-stages tbody td.num:nth-child(2)")
               .all_inner_texts()]  # fmt: skip
    assert all(s >= 0 for s in seconds) and sum(seconds) > 0
    widths = page.eval_on_selector_all(
        "#job-stages .stage-bar", "els => els.map(e => e.offsetWidth)"
    )
    assert max(widths) == widths[seconds.index(max(seconds))]  # the longest stage, the longest bar
    assert (
        page.locator("#job-log li")
        .last.inner_text()
        .startswith(page.locator("#job-log li time").last.inner_text())
    )
    assert "succeeded" in page.locator("#job-log li").last.inner_text()
    assert page.locator("a", has_text="View result").count() == 1


def test_submit_form_takes_limits_presets_and_estimates_from_the_server(
    ui: UI, service: Service
) -> None:
    server = service.api.get("/api/v1/server-config").json()
    page = ui.goto("#/submit")
    assert page.input_value("#preset") == server["default_preset"] == "quick"
    for name in ("n_contexts", "max_tokens", "window_len", "bootstrap_samples"):
        limit = server["limits"][name]
        assert float(page.get_attribute(f"#{name}", "max") or "nan") == limit["maximum"], name
        assert float(page.get_attribute(f"#{name}", "min") or "nan") == limit["minimum"], name
    assert page.get_attribute("#n_contexts", "max") == "65536"
    presets = {p["name"]: p for p in server["presets"]}
    quick_n = presets["quick"]["config"]["n_contexts"]
    assert page.get_attribute("#n_contexts", "placeholder") == f"preset: {quick_n}"
    estimate = page.locator("#preset-estimate").inner_text()
    assert presets["quick"]["estimate"]["reference"] in estimate
    assert "median" in estimate  # the fixture's quick jobs ran on this server
    # Every preset's size and run time side by side.
    rows = page.locator("#preset-table tbody tr")
    assert rows.count() == 3
    for name, preset in presets.items():
        row = page.locator(f"#preset-table tr[data-preset='{name}']").inner_text()
        assert preset["estimate"]["reference"] in row
        assert f"{preset['config']['n_contexts']:,}" in row
    assert "median" in page.locator("#preset-table tr[data-preset='quick']").inner_text()
    page.select_option("#preset", "standard")
    standard_n = presets["standard"]["config"]["n_contexts"]
    assert page.get_attribute("#n_contexts", "placeholder") == f"preset: {standard_n}"
    shown = page.locator("#preset-estimate").inner_text()
    assert presets["standard"]["estimate"]["reference"] in shown
    option = page.locator("#preset option[value='full']").inner_text()
    assert f"{presets['full']['config']['max_tokens']:,}" in option

    # Over the server's limit: refused in the form, nothing sent.
    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)
    page.click("details.advanced summary")
    page.fill("#model", f"local:{service.models['llama']}")
    page.fill("#n_contexts", "70000")
    page.click("#submit-job")
    assert "Between 16 and 65536" in page.locator("#n_contexts-error").inner_text()
    assert posted == []


def test_a_synthetic_corpus_offers_the_models_that_fit_it(ui: UI, service: Service) -> None:
    page = ui.goto("#/submit")
    page.fill("#corpus", SYNTHETIC)
    note = page.locator("#synthetic-note")
    note.locator("#fitting-models").wait_for()
    assert "vocabulary of 12" in note.inner_text()
    listed = note.locator("#fitting-models button").all_inner_texts()
    for step in ("step100", "step200"):
        assert f"local:{service.models[step]}" in listed
    assert f"local:{service.models['llama']}" not in listed  # vocabulary 384: does not fit
    note.locator("#fitting-models button").first.click()
    assert page.input_value("#model") == listed[0]
    page.fill("#corpus", "synthetic:mess3")
    assert "No model on this server fits" in page.locator("#synthetic-note").inner_text()
    page.fill("#corpus", "builtin:python-docs")
    assert page.locator("#synthetic-note").inner_text() == ""


def test_eta_from_the_rate_or_from_earlier_jobs(ui: UI, service: Service) -> None:
    page = ui.goto("#/jobs")
    out = page.evaluate(
        """async () => {
          const m = await import('/js/jobstatus.js');
          const now = Date.parse('2026-01-01T00:01:00Z');
          const base = {status: 'running', started_at: '2026-01-01T00:00:00Z', preset: 'quick',
                        model_source: 'local:/a'};
          const config = {presets: [{name: 'quick', estimate: {observed_median_seconds: 100,
                          observed_jobs: 4, by_model: {}}}]};
          return [
            m.eta({...base, progress: 0.5}, null, now).seconds,
            m.eta({...base, progress: 0.02}, config, now).seconds,
            m.eta({...base, progress: 0.02}, null, now).text,
            m.eta({...base, status: 'failed', progress: 0.54}, config, now).text,
          ];
        }"""
    )
    assert out[0] == pytest.approx(60.0)  # 60 s for half: 60 s more
    assert out[1] == pytest.approx(40.0)  # too early for the rate: typical 100 s − 60 s
    assert out[2].startswith("estimating")
    assert out[3] == ""

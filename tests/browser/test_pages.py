"""Every page against real results computed in this session, in headless Chromium."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import HTML_NAME, SMALL, UI, Service

pytestmark = pytest.mark.browser


def chart_points(page: Any, scope: str = "main") -> list[int]:
    """Data points per drawn chart (set by the renderer once Plotly drew it); cards that say
    why there is nothing to chart (empty or all-equal series) are not charts. Waits until every
    chart is drawn: a tab opened later may be the page's first chart, which loads Plotly."""
    page.wait_for_function(
        "s => [...document.querySelectorAll(s)].every(e => e.dataset.points !== undefined)",
        arg=f"{scope} figure.chart",
    )
    return [
        int(n)
        for n in page.eval_on_selector_all(
            f"{scope} figure.chart:not([data-empty])",
            "els => els.map(e => e.dataset.points || '0')",
        )
    ]


def plotted_traces(page: Any, scope: str) -> list[str]:
    """Names of the traces Plotly actually holds in the charts under ``scope``."""
    return list(
        page.eval_on_selector_all(
            f"{scope} .js-plotly-plot",
            "els => els.flatMap(e => (e.data || []).map(t => t.name || ''))",
        )
    )


def nll_column(page: Any) -> list[float]:
    texts = page.locator("#models-table tbody td:nth-child(8) .v").all_inner_texts()
    return [float(t.split(" [")[0]) for t in texts if t != "—"]  # the estimate, not its interval


def test_models_page_lists_results_sorts_filters_and_shows_html_as_text(
    ui: UI, service: Service
) -> None:
    page = ui.goto("#/models")
    rows = page.locator("#models-table tbody tr")
    assert rows.count() >= 2
    full = service.jobs["full"]
    row = page.locator(f"#models-table tr[data-result-id='{full['result_id']}']")
    nll = float(row.locator("td").nth(7).locator(".v").inner_text().split(" [")[0])
    result = service.api.get(f"/api/v1/results/{full['result_id']}").json()["result"]
    assert nll == pytest.approx(result["entropy"]["summary"]["mean_nll"]["estimate"], rel=1e-3)
    # Surplus K=2 and the spectral headline numbers are filled for the full job; Surplus K=2
    # is a number when detected, else "not detected (≤ its upper bound)".
    surplus_cell = row.locator("td[data-col='surplus'] .v").inner_text()
    if result["surplus"]["detected"]["2"]:
        assert re.fullmatch(r"-?[\d.e+-]+( \[.*\])?", surplus_cell)
    else:
        assert re.fullmatch(r"not detected \(≤ [\d.e+-]+\)|insufficient data", surplus_cell)
    # The own-prototype lift with its interval; the model-free one once the server has it.
    number = r"-?[\d.e+-]+( \[-?[\d.e+-]+, -?[\d.e+-]+\])?"
    assert re.fullmatch(number, row.locator("td[data-col='lift_proto'] .v").inner_text())
    models = service.api.get("/api/v1/models").json()
    [entry] = [e for m in models for e in m["latest"] if e["result_id"] == full["result_id"]]
    if entry["headline"].get("alignment_kernel") == "lin":
        assert re.fullmatch(number, row.locator("td[data-col='lift'] .v").inner_text())

    # The model whose directory name is HTML: shown verbatim, never parsed.
    names = page.locator("#models-table td.name").all_inner_texts()
    assert any(HTML_NAME in n for n in names)
    assert page.locator("#models-table img").count() == 0

    # Sort by NLL: ascending then descending (by keyboard, like a user without a mouse).
    header = page.locator("th[data-col='nll'] button")
    header.focus()
    page.keyboard.press("Enter")
    assert page.locator("th[data-col='nll']").get_attribute("aria-sort") == "ascending"
    assert nll_column(page) == sorted(nll_column(page))
    page.keyboard.press("Enter")
    assert page.locator("th[data-col='nll']").get_attribute("aria-sort") == "descending"
    assert nll_column(page) == sorted(nll_column(page), reverse=True)

    # Filter by the llama directory: the HTML-named row disappears.
    page.fill("#model-filter", str(service.models["llama"]))
    assert page.locator("#models-table tbody tr").count() >= 1
    assert all(HTML_NAME not in n for n in page.locator("#models-table td.name").all_inner_texts())


def test_dashboard_tabs_render_real_charts_provenance_and_exports(
    ui: UI, service: Service, tmp_path: Path
) -> None:
    job = service.jobs["full"]
    page = ui.goto(f"#/model/{job['model_id']}?result={job['result_id']}")
    assert page.locator("#headline-cards .stat").count() >= 5
    assert "nats" in page.locator("#headline-cards").inner_text()
    assert page.locator("#summary .stat").count() >= 3
    entropy_points = chart_points(page, "#panel-entropy")
    assert len(entropy_points) >= 5 and all(n > 0 for n in entropy_points)
    titles = page.locator("#panel-entropy figure.chart h3").all_inner_texts()
    assert "NLL and entropy by context position" in titles
    assert any("Logit lens" in t for t in titles)
    assert "Predictive information per layer" in titles
    # Axis titles carry units.
    y_title = page.locator("#panel-entropy .js-plotly-plot .ytitle").first.text_content()
    assert "nats" in (y_title or "")

    # Keyboard: arrow keys move between tabs and open their panel.
    page.focus("#tab-entropy")
    page.keyboard.press("ArrowRight")
    assert page.get_attribute("#tab-surplus", "aria-selected") == "true"
    assert page.is_visible("#panel-surplus")
    page.wait_for_selector("#panel-surplus figure.chart")
    surplus = page.locator("#panel-surplus figure.chart h3").all_inner_texts()
    assert "Information surplus Surplus_K by K" in surplus
    assert any("Term 1 per layer" in t for t in surplus)
    assert all(n > 0 for n in chart_points(page, "#panel-surplus"))
    traces = plotted_traces(page, "#panel-surplus")
    assert any("upper bound" in t for t in traces) and any("95% interval" in t for t in traces)

    page.keyboard.press("ArrowRight")
    assert page.get_attribute("#tab-spectrum", "aria-selected") == "true"
    page.wait_for_selector("#panel-spectrum figure.chart")
    spectrum = page.locator("#panel-spectrum figure.chart h3").all_inner_texts()
    for expected in (
        "Eigenspectra of the kernels",
        "Representation spectra per layer",
        "Alignment A vs chance A_rand per layer (data side)",
        "Capture curve",
        "Canonical correlations",
        "Pullback Fisher metric spectrum",
    ):
        assert any(expected in t for t in spectrum), (expected, spectrum)
    assert all(n > 0 for n in chart_points(page, "#panel-spectrum"))
    # Log–log axes on the spectra.
    spectra_axes = page.eval_on_selector(
        "#panel-spectrum figure[data-chart-id='spectral.kernel_spectra'] .js-plotly-plot",
        "e => [e.layout.xaxis.type, e.layout.yaxis.type]",
    )
    assert spectra_axes == ["log", "log"]

    # Provenance: model source, corpus hash, seed, versions, device, timings.
    prov = page.locator("#provenance").inner_text()
    result = service.api.get(f"/api/v1/results/{job['result_id']}").json()["result"]
    assert result["provenance"]["corpus"]["hash"] in prov
    assert "torch version" in prov and "device" in prov and "capture" in prov

    # Exports: JSON (the result), CSV (its numbers), PNG and SVG of a chart.
    with page.expect_download() as dl:
        page.click("#export-json")
    exported = json.loads(Path(dl.value.path()).read_text())
    assert exported["result"]["entropy"]["summary"] == result["entropy"]["summary"]
    with page.expect_download() as dl:
        page.click("#export-csv")
    csv_text = Path(dl.value.path()).read_text()
    assert csv_text.startswith("path,value\n") and "entropy.summary.mean_nll.estimate" in csv_text
    figure = page.locator("#panel-spectrum figure.chart").first
    for fmt, magic in (("png", b"\x89PNG"), ("svg", b"<svg")):
        with page.expect_download() as dl:
            figure.locator(f"button:text-is('{fmt.upper()}')").click()
        assert Path(dl.value.path()).read_bytes()[:4] == magic[:4]


def test_missing_sections_say_not_computed(ui: UI, service: Service) -> None:
    job = service.jobs["partial"]
    page = ui.goto(f"#/model/{job['model_id']}?result={job['result_id']}&tab=surplus")
    assert "not computed in this result" in page.locator("#panel-surplus").inner_text()
    # The page title is the HTML run name, as text.
    assert HTML_NAME in page.locator("h1").inner_text()
    assert page.locator("main img").count() == 0
    page.click("#tab-spectrum")
    assert "not computed in this result" in page.locator("#panel-spectrum").inner_text()
    page.click("#tab-entropy")
    assert all(n > 0 for n in chart_points(page, "#panel-entropy"))


def test_synthetic_result_draws_exact_values_beside_estimates(ui: UI, service: Service) -> None:
    job = service.jobs["step100"]
    result = service.api.get(f"/api/v1/results/{job['result_id']}").json()["result"]
    exact = result["exact"]
    page = ui.goto(f"#/model/{job['model_id']}?result={job['result_id']}")
    table = page.locator("#panel-entropy table.scalars").first.inner_text()
    assert "Exact comparison" in table and "Mean KL" in table
    names = plotted_traces(page, "figure[data-chart-id='entropy.by_position']")
    assert "exact: KL(p* ‖ p)" in names and "exact: mean H(p*) (data entropy)" in names
    page.click("#tab-surplus")
    by_k = page.eval_on_selector(
        "figure[data-chart-id='surplus.by_k'] .js-plotly-plot",
        "e => e.data.filter(t => t.name.startsWith('exact')).map(t => [t.x, t.y])",
    )
    ideal = {int(k): v for k, v in exact["ideal_surplus"].items()}
    [(xs, ys)] = by_k
    assert xs and all(ys[i] == pytest.approx(ideal[x]) for i, x in enumerate(xs))


def test_checkpoints_of_one_run_get_a_training_step_axis(ui: UI, service: Service) -> None:
    ids = [service.jobs[n]["result_id"] for n in ("step200", "step100")]
    page = ui.goto(f"#/compare?results={ids[0]},{ids[1]}")
    assert "checkpoints of one run" in page.locator("main .lede").inner_text()
    chart = page.locator("figure[data-chart-id='training.mean_nll'] .js-plotly-plot")
    x = chart.evaluate("e => e.data[0].x")
    assert x == [100, 200]  # sorted by step, whatever order they were chosen in
    assert chart.evaluate("e => e.layout.xaxis.title.text") == "training step"
    labels = page.locator("#compare-key .key-item a").all_inner_texts()
    assert labels == [f"{HTML_NAME} @ step 200", f"{HTML_NAME} @ step 100"]


def test_two_models_compared_from_the_models_page(ui: UI, service: Service) -> None:
    page = ui.goto("#/models")
    for name in ("full", "partial"):
        rid = service.jobs[name]["result_id"]
        page.check(f"#models-table tr[data-result-id='{rid}'] input[type=checkbox]")
    page.click("#compare-selected")
    page.wait_for_function(
        "() => (document.querySelector('main').dataset.renderedHash || '').startsWith("
        "'#/compare') && document.querySelector('main').dataset.ready === 'true'"
    )
    assert page.locator("#compare-key .key-item").count() == 2
    assert HTML_NAME in page.locator("#compare-table thead").inner_text()
    points = chart_points(page)
    assert len(points) >= 10 and all(n > 0 for n in points)
    # The position chart overlays both models.
    names = plotted_traces(page, "figure[data-chart-id='entropy.by_position']")
    llama = str(service.models["llama"])
    assert any(llama in n for n in names)
    assert any("&lt;img" in n for n in names)  # escaped for Plotly: literal, not markup
    with page.expect_download() as dl:
        page.click("#export-json")
    assert len(json.loads(Path(dl.value.path()).read_text())["items"]) == 2


def test_form_validates_then_runs_a_job_whose_progress_bar_moves(ui: UI, service: Service) -> None:
    page = ui.goto("#/submit")
    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)

    # Client-side validation: nothing is sent.
    page.click("details.advanced summary")
    page.fill("#model", "")
    page.fill("#window_len", "3")
    page.click("#submit-job")
    assert page.locator("#model-error").inner_text().strip() != ""
    assert "Between" in page.locator("#window_len-error").inner_text()
    assert page.get_attribute("#model", "aria-invalid") == "true"
    assert posted == []

    # Well-formed but refused by the server (more contexts than the corpus holds): the
    # message shows inline.
    page.fill("#model", f"local:{service.models['gpt2']}")
    page.fill("#window_len", "")
    page.fill("#n_contexts", "60000")
    ui.expect_error("status of 422")  # Chromium logs the refused POST itself
    page.click("#submit-job")
    page.wait_for_selector("#submit-status .server-error")
    status = page.locator("#submit-status").inner_text()
    assert "Server refused the job" in status and "n_contexts" in status
    assert len(posted) == 1

    # A real job.
    page.fill("#model", f"local:{service.models['gpt2']}")
    page.select_option("#preset", "quick")
    page.fill("#window_len", str(SMALL["window_len"]))
    # Larger than the fixture jobs (~7 s of analysis on an idle machine, most of it surplus
    # probes), so the bar is seen moving (it polls at 1 Hz). The probes' step cap comes through
    # the JSON overrides: their cost grows with the tokens, as they train on every position.
    page.fill("#max_tokens", str(8 * SMALL["max_tokens"]))
    page.fill("#bootstrap_samples", str(SMALL["bootstrap_samples"]))
    page.fill("#n_contexts", str(4 * SMALL["n_contexts"]))
    page.fill("#extra", '{"surplus": {"max_steps": 80, "max_epochs": 8}}')
    page.check("#force")
    page.click("#submit-job")
    page.wait_for_selector("#submit-status[data-job-id]")
    job_id = int(page.get_attribute("#submit-status", "data-job-id"))
    page.click("#submit-status a")  # "Follow its progress"
    row = page.locator(f"#jobs-table tr[data-job-id='{job_id}']")
    row.wait_for()
    assert "highlight" in (row.get_attribute("class") or "")

    seen: list[float] = []
    stages: set[str] = set()
    for _ in range(600):  # ≤ 150 s
        status = row.get_attribute("data-status")
        seen.append(float(row.locator("progress").get_attribute("value") or 0))
        stages.add(row.locator(".stage").inner_text())
        if status in {"succeeded", "failed", "cancelled"}:
            break
        page.wait_for_timeout(250)
    assert row.get_attribute("data-status") == "succeeded", row.inner_text()
    assert seen == sorted(seen), "progress went backwards"
    intermediate = {v for v in seen if 0 < v < 100}
    assert len(intermediate) >= 2, f"progress bar did not move: {seen}"
    assert len(stages - {""}) >= 3, stages
    row.locator("a", has_text="View result").click()
    page.wait_for_function(
        "() => (document.querySelector('main').dataset.renderedHash || '').startsWith("
        "'#/model/') && document.querySelector('main').dataset.ready === 'true'"
    )
    assert all(n > 0 for n in chart_points(page, "#panel-entropy"))


@contextmanager
def idle_worker(service: Service, queue: str) -> Iterator[None]:
    """A worker that serves ``queue`` but never claims, straight into the database; marked
    stopped afterwards, so routing in later tests of this package never picks its queue."""
    from markovlens.store import open_database, repo_workers

    data_dir = service.models["llama"].parent.parent / "data"  # the fixture's layout
    database = open_database(f"sqlite:///{data_dir / 'markovlens.db'}")
    try:
        with database.session() as session:
            repo_workers.register(
                session,
                "idle",
                hostname="h",
                pid=1,
                device="cpu",
                memory_bytes=1 << 34,
                queues=[queue],
            )
        yield
    finally:
        with database.session() as session:
            repo_workers.mark_stopped(session, "idle")
        database.dispose()


def test_upload_corpus_then_cancel_the_queued_job(ui: UI, service: Service, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("Markov kernels compose. " * 400)
    page = ui.goto("#/submit")
    page.fill("#model", f"local:{service.models['llama']}")
    page.check("#mode-upload")
    page.set_input_files("#file", str(text))
    page.fill("#corpus_name", "my notes")
    page.click("details.advanced summary")
    # A queue no worker serves is refused at submission; one whose only worker never claims
    # (advertised here, straight into the database) keeps the job queued.
    with idle_worker(service, "nowhere"):
        page.fill("#queue", "nowhere")
        page.click("#submit-job")
        page.wait_for_selector("#submit-status[data-job-id]")
        job_id = int(page.get_attribute("#submit-status", "data-job-id"))
        job = service.api.get(f"/api/v1/jobs/{job_id}").json()
        assert job["corpus_source"].startswith("upload:") and job["queue"] == "nowhere"

        page = ui.goto("#/jobs")
        row = page.locator(f"#jobs-table tr[data-job-id='{job_id}']")
        assert row.get_attribute("data-status") == "queued"
        row.locator("button", has_text="Cancel").click()
        page.wait_for_selector(f"#jobs-table tr[data-job-id='{job_id}'][data-status='cancelled']")
        assert service.api.get(f"/api/v1/jobs/{job_id}").json()["status"] == "cancelled"


@pytest.mark.parametrize("ui", [800], indirect=True)
def test_pages_fit_800_px(ui: UI, service: Service) -> None:
    job = service.jobs["full"]
    for fragment in (
        "#/models",
        f"#/model/{job['model_id']}?result={job['result_id']}",
        "#/submit",
        "#/jobs",
        f"#/compare?results={job['result_id']},{service.jobs['partial']['result_id']}",
    ):
        page = ui.goto(fragment)
        overflow = page.evaluate("() => document.documentElement.scrollWidth")
        assert overflow <= 800, (fragment, overflow)
        widths = page.eval_on_selector_all("figure.chart", "els => els.map(e => e.offsetWidth)")
        assert all(w <= 800 for w in widths)


def test_unknown_model_shows_the_servers_message(ui: UI) -> None:
    ui.expect_error("status of 404")
    page = ui.goto("#/model/987654")
    assert page.locator("main h1").inner_text() == "Something went wrong"
    assert "987654" in page.locator("main [role=alert]").inner_text()


def test_api_token_from_the_submit_page_is_sent_as_a_bearer_token(ui: UI) -> None:
    page = ui.goto("#/submit")
    page.click("details.advanced summary")
    page.fill("#api_token", "s3cret-token")
    page.press("#api_token", "Tab")  # "change" stores it for this tab
    seen: list[str | None] = []
    page.on(
        "request",
        lambda r: seen.append(r.headers.get("authorization")) if "/api/v1/" in r.url else None,
    )
    page = ui.goto("#/jobs")
    page.wait_for_selector("#jobs-table")
    assert seen and all(header == "Bearer s3cret-token" for header in seen)

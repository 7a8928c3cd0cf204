"""Screenshots of every page for the README: ``python -m tests.browser.screenshots URL``.

Point it at a server holding SmolLM2 results (``make demo`` submits them): it picks the newest
succeeded ``builtin:smollm2-135m`` result and, for the compare page, its random-init twin.
Writes docs/img/{models,dashboard-entropy,dashboard-surplus,dashboard-spectrum,dashboard-tokens,
compare,submit,jobs,job}.png at 1280 px wide (pages taller than MAX_HEIGHT are cut there).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import httpx

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

OUT = Path(__file__).resolve().parents[2] / "docs" / "img"
MAX_HEIGHT = 2200


def newest_result(models: list[dict[str, Any]], source: str) -> tuple[int, int] | None:
    """(model id, result id) of the newest result of the model with ``source``."""
    for model in models:
        if model["source"] == source and model["latest"]:
            entry = max(model["latest"], key=lambda e: e["created_at"])
            return int(model["id"]), int(entry["result_id"])
    return None


def shoot(
    page: Any, fragment: str, path: Path, *, tab: str | None = None, hover: str | None = None
) -> None:
    page.evaluate("f => { location.hash = f; }", fragment)
    page.wait_for_function(
        "f => location.hash.startsWith(f.split('&')[0]) && "
        "document.querySelector('main').dataset.ready === 'true'",
        arg=fragment,
    )
    if tab:
        page.click(f"#tab-{tab}")
    if hover:  # e.g. a token, to show its hover card
        page.locator(hover).first.hover()
    page.wait_for_timeout(1200)  # let Plotly finish its transitions
    height = min(MAX_HEIGHT, page.evaluate("() => document.documentElement.scrollHeight"))
    page.screenshot(
        path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": height}
    )
    print(f"wrote {path} ({height} px high)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("server", help="e.g. http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    base = args.server.rstrip("/")
    models = httpx.get(f"{base}/api/v1/models", timeout=30).json()
    trained = newest_result(models, "builtin:smollm2-135m")
    if trained is None:
        raise SystemExit("no succeeded builtin:smollm2-135m result on that server")
    twin = newest_result(models, "random-init:builtin:smollm2-135m")
    model_id, result_id = trained
    args.out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/#/models")
        dash = f"#/model/{model_id}?result={result_id}"
        shoot(page, "#/models", args.out / "models.png")
        shoot(page, dash, args.out / "dashboard-entropy.png")
        shoot(page, dash, args.out / "dashboard-surplus.png", tab="surplus")
        shoot(page, dash, args.out / "dashboard-spectrum.png", tab="spectrum")
        shoot(page, dash, args.out / "dashboard-tokens.png", tab="tokens", hover=".tok.sampled")
        ids = [result_id] + ([twin[1]] if twin else [])
        shoot(page, f"#/compare?results={','.join(map(str, ids))}", args.out / "compare.png")
        shoot(page, "#/submit", args.out / "submit.png")
        shoot(page, "#/jobs", args.out / "jobs.png")
        job_id = httpx.get(f"{base}/api/v1/results/{result_id}", timeout=30).json()["job_id"]
        shoot(page, f"#/job/{job_id}", args.out / "job.png")
        browser.close()


if __name__ == "__main__":
    main()

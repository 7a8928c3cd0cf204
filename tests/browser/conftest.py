"""Browser-test fixtures: the real service on a loopback port, real jobs, headless Chromium.

One service per session (``markovlens serve`` as a subprocess with a tmp data dir and an
embedded worker); the jobs every page test reads are submitted through the API and awaited
here, so each page renders results computed in this test run on tiny models.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from markovlens.lab.synthetic_sources import get_source

from tests.conftest import UI_HEADERS
from tests.tiny_models import build_tiny_model

CHROMIUM = "/usr/bin/chromium"
# A model name that is HTML: it must show up as text everywhere.
HTML_NAME = "<img src=x onerror=alert(1)>"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The policy the API is to send; applied here to the page too, so the suite proves the
# frontend needs no inline script/style and no third-party origin.
CSP = "default-src 'self'; img-src 'self' data: blob:"
TERMINAL = {"succeeded", "failed", "cancelled"}
RUN_NAME = HTML_NAME
SYNTHETIC = "synthetic:lookahead"
# Small enough for ~20 s per job on 2 CPU cores, large enough for every suite to run.
SMALL = {"window_len": 32, "max_tokens": 1024, "bootstrap_samples": 50, "n_contexts": 192}
# The fixture jobs also trim the probes and spectra (every chart still gets data).
FIXTURE = {
    **SMALL,
    "surplus": {
        "max_k": 3,
        "max_steps": 20,
        "max_epochs": 2,
        "max_layers": 2,
        "bootstrap_samples": 50,
    },
    "spectral": {
        "rank": 32,
        "fisher_contexts": 8,
        "dirichlet_random": 4,
        "dirichlet_directions": 4,
        "capture_top": 8,
        "cca_top": 8,
    },
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """The running service and the jobs the page tests read."""

    base: str
    api: httpx.Client
    models: dict[str, Path]
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def submit(self, **body: Any) -> dict[str, Any]:
        response = self.api.post("/api/v1/jobs", json={"force": True, **body})
        assert response.status_code == 201, response.text
        return dict(response.json())

    def wait(self, job_id: int, timeout: float = 240.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = dict(self.api.get(f"/api/v1/jobs/{job_id}").json())
            if job["status"] in TERMINAL:
                return job
            time.sleep(0.5)
        raise AssertionError(f"job {job_id} did not finish in {timeout} s")


# Package scope: the server subprocess and Playwright's event loop end with the browser tests
# (a live loop in the main thread breaks later asyncio.run(); a live server confuses the
# process checks of the jobs tests).
@pytest.fixture(scope="package")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("browser")
    model_root = root / "models"
    models = {
        "llama": build_tiny_model("llama", model_root / "llama"),
        "gpt2": build_tiny_model("gpt2", model_root / "gpt2"),
    }
    # Two checkpoints of one lab run (on the synthetic source's own vocabulary): the compare
    # page gets a training-step axis. The run's name is HTML, so the models' display names
    # ("<run> @ step N") are too: they must show up as text everywhere.
    synthetic_vocab = get_source(SYNTHETIC).vocab_size
    for step in (100, 200):
        directory = build_tiny_model(
            "llama", model_root / "run" / f"step-{step}", seed=step, vocab_size=synthetic_vocab
        )
        (directory / "markovlens.json").write_text(
            json.dumps({"run_name": RUN_NAME, "training_step": step})
        )
        models[f"step{step}"] = directory
    port = free_port()
    env = {
        **os.environ,
        "MARKOVLENS_DATA_DIR": str(root / "data"),
        "MARKOVLENS_MODEL_ROOTS": f'["{model_root}"]',
        "MARKOVLENS_EMBEDDED_WORKER": "true",
    }
    log = (root / "serve.log").open("w")
    cli = Path(sys.executable).parent / "markovlens"
    proc = subprocess.Popen(
        [str(cli), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    # Writes need a non-simple request (JSON, a token or the client header): cancel has no body.
    api = httpx.Client(base_url=base, timeout=30, headers=UI_HEADERS)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if api.get("/api/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {(root / 'serve.log').read_text()}")
            time.sleep(0.25)
        svc = Service(base=base, api=api, models=models)
        full = svc.submit(
            model=f"local:{models['llama']}",
            corpus="builtin:python-docs",
            preset="quick",
            config=FIXTURE,
        )
        # Checkpoints on a synthetic source: exact values drawn beside the estimates. The
        # later one skips two suites, so its dashboard says "not computed".
        step100 = svc.submit(
            model=f"local:{models['step100']}", corpus=SYNTHETIC, preset="quick", config=FIXTURE
        )
        step200 = svc.submit(
            model=f"local:{models['step200']}",
            corpus=SYNTHETIC,
            preset="quick",
            config={**FIXTURE, "run_surplus": False, "run_spectral": False},
        )
        submitted = {"full": full, "step100": step100, "step200": step200}
        for name, job in submitted.items():
            done = svc.wait(job["id"])
            assert done["status"] == "succeeded", f"{name} job failed: {done['error']}"
            svc.jobs[name] = done
        svc.jobs["partial"] = svc.jobs["step200"]
        yield svc
    finally:
        api.close()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class UI:
    """A page plus what it did: console errors, page errors and every request URL."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.expected: list[str] = []
        page.on(
            "console",
            lambda m: (
                self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None
            ),
        )
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("request", lambda r: self.requests.append(r.url))

    def rewrite(self, pattern: str, edit: Callable[[Any], None]) -> None:
        """Serve ``pattern``'s JSON with ``edit`` applied to the parsed body (in place)."""

        def handle(route: Any) -> None:
            response = route.fetch()
            body = response.json()
            edit(body)
            route.fulfill(response=response, body=json.dumps(body))

        self.page.route(pattern, handle)

    def goto(self, fragment: str) -> Any:
        """Open ``#/...`` and wait until the page module finished rendering."""
        page = self.page
        if page.url.startswith(self.base):
            page.evaluate("f => { location.hash = f; }", fragment)
        else:
            page.goto(f"{self.base}/{fragment}")
        page.wait_for_function(
            "f => document.querySelector('main').dataset.renderedHash === f && "
            "document.querySelector('main').dataset.ready === 'true'",
            arg=fragment,
        )
        return page

    def expect_error(self, fragment: str) -> None:
        """A console error containing ``fragment`` is part of the test (e.g. a refused POST)."""
        self.expected.append(fragment)

    def assert_clean(self) -> None:
        errors = [e for e in self.errors if not any(f in e for f in self.expected)]
        assert errors == [], errors
        outside = [
            u
            for u in self.requests
            if not (u.startswith(self.base + "/") or u.startswith(("blob:", "data:")))
        ]
        assert outside == [], f"requests left 127.0.0.1: {outside}"


def _with_csp(route: Any) -> None:
    response = route.fetch()
    route.fulfill(response=response, headers={**response.headers, "content-security-policy": CSP})


@pytest.fixture
def ui(browser: Any, service: Service, request: pytest.FixtureRequest) -> Iterator[UI]:
    width = getattr(request, "param", 1280)
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    # Documents get the production CSP (a no-op if the server already sends one).
    page.route(lambda url: url.rstrip("/") == service.base or url.endswith(".html"), _with_csp)
    view = UI(page, service.base)
    yield view
    context.close()
    view.assert_clean()

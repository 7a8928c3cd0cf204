"""A page from another origin, in a real Chromium, cannot submit, upload or cancel.

The server runs as users run it by default (loopback, no tokens). The attacker's page is
served from another port (another origin, same site) and tries every write a browser can
send without asking: a no-cors JSON-as-text submit, a multipart upload, a body-less cancel,
and CORS requests with the JSON type or the UI's header (which need a preflight we never
grant). A DNS-rebinding visit (a foreign name resolving to the server) is refused by Host.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.security.conftest import LiveServer, live_server

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
JOB = {"model": "builtin:smollm2-135m", "corpus": "builtin:python-docs", "preset": "quick"}

ATTACK = """<!doctype html><title>attack</title><script>
const target = "%(target)s";
const job = JSON.stringify(%(job)s);
function upload() {
  const form = new FormData();
  form.append("file", new Blob(["stolen text for a corpus"], {type: "text/plain"}), "x.txt");
  return fetch(target + "/api/v1/corpora", {method: "POST", mode: "no-cors", body: form});
}
const attempts = [
  fetch(target + "/api/v1/jobs", {method: "POST", mode: "no-cors", body: job,
        headers: {"Content-Type": "text/plain"}}),
  upload(),
  fetch(target + "/api/v1/jobs/%(job_id)s/cancel", {method: "POST", mode: "no-cors"}),
  fetch(target + "/api/v1/jobs", {method: "POST", body: job,
        headers: {"Content-Type": "application/json"}}),
  fetch(target + "/api/v1/jobs/%(job_id)s/cancel", {method: "POST",
        headers: {"X-Markovlens-Client": "web"}}),
];
Promise.allSettled(attempts).then((outcomes) => {
  document.body.dataset.outcomes = JSON.stringify(outcomes.map((o) => o.status));
  document.title = "done";
});
</script><body></body>"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("xsite")) as live:
        yield live


@pytest.fixture
def attacker_site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A plain static server on another port: the other origin."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def chromium(server: LiveServer) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # "rebind.test" resolves to the server, as an attacker's DNS would after rebinding.
    rules = "--host-resolver-rules=MAP rebind.test 127.0.0.1"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", rules]
        )
        yield browser
        browser.close()


def test_another_origin_cannot_submit_upload_or_cancel(
    server: LiveServer, attacker_site: tuple[Path, str], chromium: Any
) -> None:
    api = httpx.Client(base_url=server.base, timeout=10, headers={"X-Markovlens-Client": "t"})
    victim = api.post("/api/v1/jobs", json=JOB).json()
    directory, origin = attacker_site
    page_text = ATTACK % {"target": server.base, "job": json.dumps(JOB), "job_id": victim["id"]}
    (directory / "attack.html").write_text(page_text)
    page = chromium.new_page()
    page.goto(f"{origin}/attack.html")
    page.wait_for_function("document.title === 'done'", timeout=20_000)

    jobs = api.get("/api/v1/jobs").json()
    assert [job["id"] for job in jobs["items"]] == [victim["id"]]  # nothing submitted
    assert jobs["items"][0]["status"] == "queued"  # and nothing cancelled
    corpora = api.get("/api/v1/corpora").json()
    assert not [c for c in corpora if c["source"].startswith("upload:")]  # nothing uploaded
    # The simple requests did reach the server, and were refused there (not just unread).
    log = server.log.read_text()
    cancel = f'"POST /api/v1/jobs/{victim["id"]}/cancel HTTP/1.1"'
    assert '"POST /api/v1/corpora HTTP/1.1" 403' in log, log[-2000:]
    assert f"{cancel} 403" in log and f"{cancel} 200" not in log
    # The same writes from the server's own origin (the UI's way) do work.
    page.goto(f"{server.base}/")
    status = page.evaluate(
        """async (id) => (await fetch(`/api/v1/jobs/${id}/cancel`,
            {method: "POST", headers: {"X-Markovlens-Client": "web"}})).status""",
        victim["id"],
    )
    assert status == 200
    page.close()
    api.close()


def test_rebound_name_gets_no_page(server: LiveServer, chromium: Any) -> None:
    """After DNS rebinding the page's origin is the attacker's name: refused by Host."""
    page = chromium.new_page()
    response = page.goto(f"http://rebind.test:{server.port}/")
    assert response is not None and response.status == 400
    assert "unknown Host header" in page.content()
    api_answer = page.evaluate("async () => (await fetch('/api/v1/jobs')).status")
    assert api_answer == 400
    page.close()

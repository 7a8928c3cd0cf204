"""A local stand-in for the Hugging Face Hub API (loopback only: tests never use the network).

Answers ``/api/models/<repo>`` and ``/api/datasets/<repo>`` the way the Hub does: JSON info for
known repos, 401/404 with the Hub's ``X-Error-Code`` header for gated and missing ones.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SHA = "0123456789abcdef0123456789abcdef01234567"

REPOS: dict[str, list[str]] = {
    "pickle/only": ["config.json", "pytorch_model.bin", "tokenizer.json"],
    "some/dataset": ["data/train.parquet"],
}
GATED = {"gated/repo"}


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def _reply(self, status: int, body: dict[str, object], error_code: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if error_code:
            self.send_header("X-Error-Code", error_code)
            self.send_header("X-Error-Message", body.get("error", ""))  # type: ignore[arg-type]
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        for prefix in ("/api/models/", "/api/datasets/"):
            if path.startswith(prefix):
                rest = path[len(prefix) :]
                repo = "/".join(rest.split("/")[:2])
                if repo in GATED:
                    self._reply(401, {"error": "Access to this repo is restricted"}, "GatedRepo")
                elif repo in REPOS:
                    siblings = [{"rfilename": name} for name in REPOS[repo]]
                    self._reply(200, {"id": repo, "sha": SHA, "siblings": siblings})
                else:
                    self._reply(404, {"error": "Repository not found"}, "RepoNotFound")
                return
        self._reply(404, {"error": "not found"})


@contextmanager
def fake_hub() -> Iterator[str]:
    """Serve the fake Hub on a free loopback port; yields its endpoint URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def silent_hub() -> Iterator[str]:
    """A loopback port that accepts connections and never answers (a hung network path)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def closed_port_endpoint() -> str:
    """An endpoint on a loopback port with nothing listening (connection refused at once)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}"

"""A local stand-in for the Hugging Face Hub API (loopback only: tests never use the network).

Answers ``/api/models/<repo>`` and ``/api/datasets/<repo>`` the way the Hub does: JSON info for
known repos, 401/404 with the Hub's ``X-Error-Code`` header for gated and missing ones.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SHA = "0123456789abcdef0123456789abcdef01234567"

REPOS: dict[str, list[str]] = {
    "pickle/only": ["config.json", "pytorch_model.bin", "tokenizer.json"],
    "some/dataset": ["data/train.parquet"],
    "legacy": ["data/train.parquet"],
}
GATED = {"gated/repo"}
# Repos served file by file from a local directory: repo id -> directory (tests fill it).
SERVED: dict[str, Path] = {}
REQUESTS: list[str] = []


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

    def _file(self, send_body: bool) -> bool:
        """``/<org>/<name>/resolve/<rev>/<file>`` of a served repo, with the Hub's headers."""
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return False
        repo, filename = "/".join(parts[:2]), "/".join(parts[4:])
        if repo not in SERVED:
            return False
        path = SERVED[repo] / filename
        if not path.is_file():
            self._reply(404, {"error": "Entry not found"}, "EntryNotFound")
            return True
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("X-Repo-Commit", SHA)
        self.end_headers()
        if send_body:
            self.wfile.write(data)
        return True

    def _tree(self, directory: Path, subpath: list[str]) -> None:
        """``/api/models/<repo>/tree/<rev>[/<dir>]``: a flat repo has no subfolders."""
        files = [] if subpath and subpath[0] else sorted(directory.iterdir())
        listing = [
            {"type": "file", "path": p.name, "size": p.stat().st_size, "oid": SHA} for p in files
        ]
        data = json.dumps(listing).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self) -> None:
        REQUESTS.append("HEAD " + self.path)
        if not self._file(send_body=False):
            self._reply(404, {"error": "not found"})

    def do_GET(self) -> None:
        REQUESTS.append("GET " + self.path)
        if self._file(send_body=True):
            return
        path = self.path.split("?", 1)[0]
        for prefix in ("/api/models/", "/api/datasets/"):
            if path.startswith(prefix):
                rest = path[len(prefix) :]
                repo = "/".join(rest.split("/")[:2])
                if repo in GATED:
                    self._reply(401, {"error": "Access to this repo is restricted"}, "GatedRepo")
                elif repo in SERVED and "/tree/" in rest:
                    self._tree(SERVED[repo], rest.split("/tree/", 1)[1].split("/", 1)[1:])
                elif repo in SERVED:
                    self._reply(200, {"id": repo, "sha": SHA, "siblings": _siblings(SERVED[repo])})
                elif repo in REPOS:
                    siblings = [{"rfilename": name} for name in REPOS[repo]]
                    self._reply(200, {"id": repo, "sha": SHA, "siblings": siblings})
                else:
                    self._reply(404, {"error": "Repository not found"}, "RepoNotFound")
                return
        self._reply(404, {"error": "not found"})


def _siblings(directory: Path) -> list[dict[str, object]]:
    """File entries as the Hub lists them; weights carry their LFS sha256."""
    entries: list[dict[str, object]] = []
    for path in sorted(directory.iterdir()):
        entry: dict[str, object] = {"rfilename": path.name}
        if path.suffix == ".safetensors":
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            entry["lfs"] = {"sha256": digest, "size": len(data), "pointerSize": 134}
        entries.append(entry)
    return entries


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

"""A small synchronous client of REST API v1 (the CLI's submit/jobs/results commands, `lab`).

Only httpx: importing it loads neither the server (FastAPI, the database) nor torch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

DEFAULT_SERVER = "http://127.0.0.1:8000"
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


class ApiError(RuntimeError):
    """The server answered with an error, or could not be reached; ``str()`` is readable."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ApiClient:
    """Thin wrapper: one method per endpoint, JSON in and out, errors as :class:`ApiError`."""

    def __init__(
        self,
        server: str = DEFAULT_SERVER,
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        # The guard refuses "simple" writes (ones another web page could send); this header
        # marks ours as deliberate (api/origin.py).
        headers = {"X-Markovlens-Client": "cli"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.server = server.rstrip("/")
        self._http = httpx.Client(
            base_url=f"{self.server}/api/v1", headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach the markovlens server at {self.server}: {exc}") from exc
        if response.status_code >= 400:
            raise ApiError(_error_text(response), response.status_code)
        return response

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/health").json()

    def submit(
        self,
        model: str,
        corpus: str,
        preset: str = "quick",
        config: dict[str, Any] | None = None,
        revision: str | None = None,
        queue: str | None = None,
        force: bool = False,
    ) -> dict[str, Any]:
        body = {
            "model": model,
            "revision": revision,
            "corpus": corpus,
            "preset": preset,
            "config": config or None,
            "queue": queue,
            "force": force,
        }
        return self._request("POST", "/jobs", json=body).json()

    def jobs(
        self,
        status: str | None = None,
        model_id: int | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        if model_id is not None:
            params["model_id"] = model_id
        return self._request("GET", "/jobs", params=params).json()

    def job(self, job_id: int) -> dict[str, Any]:
        return self._request("GET", f"/jobs/{job_id}").json()

    def cancel(self, job_id: int) -> dict[str, Any]:
        return self._request("POST", f"/jobs/{job_id}/cancel").json()

    def result(self, result_id: int) -> dict[str, Any]:
        return self._request("GET", f"/results/{result_id}").json()

    def result_csv(self, result_id: int) -> str:
        return self._request("GET", f"/results/{result_id}/csv").text

    def follow(self, job_id: int, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Yield the job's state from its SSE stream until it is terminal."""
        url = f"/jobs/{job_id}/events"
        try:
            with self._http.stream("GET", url, timeout=httpx.Timeout(timeout)) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ApiError(_error_text(response), response.status_code)
                event = "message"
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        event = line.removeprefix("event:").strip()
                    elif line.startswith("data:") and event == "message":
                        state = json.loads(line.removeprefix("data:").strip())
                        yield state
                        if state.get("status") in TERMINAL_STATUSES:
                            return
                    elif not line:
                        event = "message"
        except httpx.HTTPError as exc:
            raise ApiError(f"lost the progress stream from {self.server}: {exc}") from exc


def _error_text(response: httpx.Response) -> str:
    """The server's ``detail`` as one line, whatever its shape."""
    try:
        detail = response.json().get("detail", response.text)
    except (ValueError, AttributeError):
        detail = response.text
    if isinstance(detail, list):  # FastAPI's validation errors: a list of dicts
        detail = "; ".join(str(item.get("msg", item)) for item in detail)
    return f"HTTP {response.status_code}: {detail}"

"""Pure helpers of the API: CSV flattening, JSON-safe arrays, the SSE stream, error text."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math

import numpy as np
from markovlens.api.error_handlers import describe_validation
from markovlens.api.routers.results import json_safe
from markovlens.api.sse import job_event_stream
from markovlens.http_client import _error_text
from markovlens.schema.csvexport import iter_numbers, result_csv
from pydantic import BaseModel


def test_iter_numbers_walks_dicts_and_lists_and_skips_non_numbers() -> None:
    doc = {"a": {"b": 1, "c": [2.5, {"d": 3}]}, "s": "text", "flag": True, "none": None}
    assert list(iter_numbers(doc)) == [("a.b", 1), ("a.c.0", 2.5), ("a.c.1.d", 3)]


def test_result_csv_round_trips_values_including_non_finite() -> None:
    doc = {"entropy": {"summary": {"mean_nll": {"estimate": 1.25, "low": 1.0}}}, "x": math.nan}
    rows = list(csv.reader(io.StringIO(result_csv(doc))))
    assert rows[0] == ["path", "value"]
    values = {path: float(value) for path, value in rows[1:]}
    assert values["entropy.summary.mean_nll.estimate"] == 1.25
    assert values["entropy.summary.mean_nll.low"] == 1.0
    assert math.isnan(values["x"])


def test_json_safe_turns_non_finite_into_null() -> None:
    array = np.array([[1.5, np.nan], [np.inf, -2.0]], dtype=np.float32)
    assert json_safe(array) == [[1.5, None], [None, -2.0]]
    assert json.dumps(json_safe(np.arange(3, dtype=np.int64))) == "[0, 1, 2]"


class FakeJob(BaseModel):
    id: int
    status: str
    progress: float


def collect(states: list[FakeJob | None], disconnect_after: int | None = None) -> list[str]:
    calls = {"fetch": 0, "poll": 0}

    async def fetch() -> FakeJob | None:
        state = states[min(calls["fetch"], len(states) - 1)]
        calls["fetch"] += 1
        return state

    async def is_disconnected() -> bool:
        calls["poll"] += 1
        return disconnect_after is not None and calls["poll"] >= disconnect_after

    async def run() -> list[str]:
        return [frame async for frame in job_event_stream(fetch, is_disconnected, 0.0)]

    return asyncio.run(run())


def test_sse_sends_changes_only_and_ends_on_terminal_state() -> None:
    queued = FakeJob(id=1, status="queued", progress=0.0)
    running = FakeJob(id=1, status="running", progress=0.5)
    done = FakeJob(id=1, status="succeeded", progress=1.0)
    frames = collect([queued, queued, running, running, done, running])
    data = [json.loads(f.split("data: ", 1)[1]) for f in frames if not f.startswith("event:")]
    assert [d["status"] for d in data] == ["queued", "running", "succeeded"]
    assert frames[-1].startswith("event: end\n")  # EventSource closes instead of reconnecting
    assert all(frame.endswith("\n\n") for frame in frames)


def test_sse_stops_when_the_client_disconnects_or_the_job_vanishes() -> None:
    running = FakeJob(id=1, status="running", progress=0.1)
    assert len(collect([running], disconnect_after=3)) == 1
    gone = collect([None])
    assert gone == ['event: error\ndata: {"detail": "job not found"}\n\n']


def test_describe_validation_is_one_readable_line() -> None:
    errors = [
        {"loc": ("body", "preset"), "msg": "Input should be 'quick'"},
        {"loc": ("query", "limit"), "msg": "too small"},
    ]
    assert describe_validation(errors) == "preset: Input should be 'quick'; limit: too small"


def test_client_error_text_uses_the_servers_detail() -> None:
    import httpx

    response = httpx.Response(409, json={"detail": "job 3 already finished"})
    assert _error_text(response) == "HTTP 409: job 3 already finished"
    listed = httpx.Response(422, json={"detail": [{"msg": "bad"}, {"msg": "worse"}]})
    assert _error_text(listed) == "HTTP 422: bad; worse"

"""Child entry points that misbehave, to test the parent's crash handling (spawn-importable)."""

from __future__ import annotations

import json
import os
import signal
import time
from multiprocessing.connection import Connection

from markovlens.worker.child import ChildSpec


def exits_with_code_7(spec: ChildSpec, conn: Connection) -> None:
    conn.send(("progress", 0.1, "about to crash"))
    os._exit(7)


def dies_by_segfault(spec: ChildSpec, conn: Connection) -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def ignores_sigterm(spec: ChildSpec, conn: Connection) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        conn.send(("progress", 0.5, "stubborn"))
        time.sleep(0.2)


def succeeds_after_2s(spec: ChildSpec, conn: Connection) -> None:
    """A well-behaved child with a fake result (exercises the parent's success path fast)."""
    conn.send(("model", {"architecture": "FakeForCausalLM", "num_layers": 3}))
    for step in range(10):
        conn.send(("progress", step / 10, "fake"))
        time.sleep(0.2)
    conn.send(("result", json.dumps({"schema_version": 1, "job": spec.job_id}), b"arrays"))


def floods_progress(spec: ChildSpec, conn: Connection) -> None:
    """Sends progress as fast as it can: the parent must still heartbeat and see a cancel."""
    step = 0
    while True:
        step += 1
        conn.send(("progress", (step % 1000) / 1000, "flood"))


def sleeps_quietly(spec: ChildSpec, conn: Connection) -> None:
    """Reports once, then computes silently (no messages) until stopped."""
    conn.send(("progress", 0.2, "quiet"))
    time.sleep(3600)

"""The child's progress reports: slow steps (imports, model loading) tick every second with
their elapsed time, and never after the next report (progress must not go backwards)."""

from __future__ import annotations

import multiprocessing
import re
import time

from markovlens.worker.child import _Reporter


def test_slow_steps_tick_with_elapsed_time_until_the_next_report() -> None:
    receiver, sender = multiprocessing.Pipe(duplex=False)
    reporter = _Reporter(sender)
    reporter.slow_step(0.01, "loading model")
    time.sleep(2.4)
    reporter.progress(0.5, "capture")
    time.sleep(1.6)  # a stale tick of "loading model" would arrive here
    reporter.send(("result", "{}", b""))
    time.sleep(1.3)  # nor may anything follow the result
    reporter.close()
    messages = []
    while receiver.poll(0.1):
        messages.append(receiver.recv())
    stages = [m[2] for m in messages if m[0] == "progress"]
    assert stages[0] == "loading model" and stages[-1] == "capture"
    ticks = [s for s in stages if re.fullmatch(r"loading model \(\d+ s\)", s)]
    assert len(ticks) >= 1 and ticks[-1] in ("loading model (2 s)", "loading model (1 s)")
    fractions = [m[1] for m in messages if m[0] == "progress"]
    assert fractions == sorted(fractions)
    assert messages[-1][0] == "result"
    assert messages.index(("progress", 0.5, "capture")) == len(messages) - 2

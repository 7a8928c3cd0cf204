"""The analysis child process: ``run_sources`` on the job's sources, reporting to the parent.

Runs in a process started with the ``spawn`` method (a fresh interpreter: no inherited CUDA
state, DB connections or threads). It never touches the database; it sends messages over a
one-way pipe and the parent writes them:

- ``("model", meta)``         ModelMeta fields plus ``training_step`` and ``run_name``
- ``("progress", f, stage)``  fraction 0..1 of the whole job, stage name
- ``("result", json, blob)``  AnalysisResult JSON and the ``np.savez_compressed`` arrays
- ``("error", message)``      a message the user can read
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from markovlens.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChildSpec:
    """Everything the child needs (picklable; no DB access in the child)."""

    job_id: int
    model_source: str
    corpus_source: str
    config: dict[str, Any]
    settings: Settings
    upload_text: str | None = None
    parent_pid: int = 0


def _watch_parent(parent_pid: int) -> None:
    """Exit when the parent dies (e.g. SIGKILL): an orphan would burn CPU for nothing."""
    while True:
        if os.getppid() != parent_pid:
            os._exit(3)
        time.sleep(0.5)


def child_main(spec: ChildSpec, conn: Connection) -> None:
    """Entry point of the spawned process."""
    if spec.settings.log_format == "json":
        from markovlens.ops.logging import bind_job, configure_logging

        configure_logging("json", "WARNING")
        bind_job(spec.job_id)
    else:
        logging.basicConfig(
            level=logging.WARNING,
            format=f"%(asctime)s job {spec.job_id} child %(name)s: %(message)s",
        )
    logging.getLogger("markovlens").setLevel(logging.INFO)
    if spec.parent_pid:
        threading.Thread(target=_watch_parent, args=(spec.parent_pid,), daemon=True).start()
    try:
        _run(spec, conn)
    except BrokenPipeError:
        os._exit(4)  # the parent is gone; nobody to report to
    finally:
        conn.close()


class _Reporter:
    """Sends messages to the parent; during slow steps with no progress of their own (imports,
    loading a model) a ticker re-sends the stage every second with its elapsed time, so the
    Jobs page shows the job is alive and where it is."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()  # the ticker thread and the main thread share the pipe
        self.slow: tuple[float, str, float] | None = None  # (fraction, stage, started)
        self.done = threading.Event()
        threading.Thread(target=self._tick, daemon=True).start()

    def send(self, message: tuple[Any, ...]) -> None:
        """Any message; it ends a slow step (no tick after a result or an error)."""
        with self.lock:
            self.slow = None
            self.conn.send(message)

    def progress(self, fraction: float, stage: str) -> None:
        with self.lock:  # atomic with the ticker: an old slow step is never re-sent after this
            self.slow = None
            self.conn.send(("progress", float(fraction), str(stage)))

    def slow_step(self, fraction: float, stage: str) -> None:
        """Report ``stage`` now and then every second as "stage (12 s)" until the next report."""
        with self.lock:
            self.conn.send(("progress", float(fraction), str(stage)))
            self.slow = (fraction, stage, time.monotonic())

    def _tick(self) -> None:
        while not self.done.wait(1.0):
            with self.lock:
                if self.slow is None:
                    continue
                fraction, stage, started = self.slow
                elapsed = time.monotonic() - started
                try:
                    self.conn.send(("progress", fraction, f"{stage} ({elapsed:.0f} s)"))
                except (BrokenPipeError, OSError):
                    return

    def close(self) -> None:
        self.slow = None
        self.done.set()


def _decoder(tokenizer: Any, synthetic: bool) -> Any:
    """id → text for the token view: symbol names on synthetic corpora, else the tokenizer's."""
    from markovlens.analysis.tokens import symbol_name

    if synthetic or tokenizer is None:
        return symbol_name

    def decode(token_id: int) -> str:
        try:
            return str(tokenizer.decode([token_id], clean_up_tokenization_spaces=False))
        except Exception:  # a tokenizer that cannot decode one id alone: show the id
            return f"#{token_id}"

    return decode


def _run(spec: ChildSpec, conn: Connection) -> None:
    reporter = _Reporter(conn)
    try:
        _analyse(spec, reporter)
    finally:
        reporter.close()


def _analyse(spec: ChildSpec, reporter: _Reporter) -> None:
    from markovlens.service.workflow import SourcesError, run_sources

    def send_model(loaded: Any) -> None:
        meta = loaded.meta.model_dump(mode="json")
        meta.update(training_step=loaded.training_step, run_name=loaded.run_name)
        reporter.send(("model", meta))

    try:
        from markovlens.schema.config import AnalysisConfig

        run = run_sources(
            spec.model_source,
            spec.corpus_source,
            AnalysisConfig(**spec.config),
            spec.settings,
            upload_text=spec.upload_text,
            progress=reporter.progress,
            step=reporter.slow_step,
            on_model=send_model,
        )
        reporter.slow_step(1.0, "storing the result")
        from markovlens.analysis.tokens import vocabulary_table
        from markovlens.store.arrays import pack_arrays

        output = run.output
        synthetic = run.corpus.meta.source.startswith("synthetic:")
        decoder = _decoder(run.loaded.tokenizer, synthetic)
        output.arrays.update(vocabulary_table(output.arrays, decoder))
        reporter.send(("result", output.result.model_dump_json(), pack_arrays(output.arrays)))
    except BrokenPipeError:
        raise
    except SourcesError as exc:
        if exc.kind == "analysis" and exc.__cause__ is not None:
            traceback.print_exception(exc.__cause__)  # unexpected: the worker's log keeps it
        reporter.send(("error", str(exc)))
    except MemoryError:
        reporter.send(("error", "out of memory while running the analysis; try a smaller preset"))
    except Exception as exc:
        traceback.print_exc()
        reporter.send(("error", f"analysis failed: {type(exc).__name__}: {exc}"))

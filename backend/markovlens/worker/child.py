"""The analysis child process: load model and corpus, run the analysis, report to the parent.

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

# Fractions of the job's progress bar given to each phase before the analysis proper.
LOAD_MODEL_END = 0.05
LOAD_CORPUS_END = 0.10


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
    reporter.slow_step(0.0, "starting: importing libraries")
    from markovlens.analysis.pipeline import run_analysis
    from markovlens.analysis.tokens import vocabulary_table
    from markovlens.corpora import CorpusError, resolve_corpus
    from markovlens.models import ModelLoadError, ModelSourceError, load_model
    from markovlens.schema.config import AnalysisConfig
    from markovlens.store.arrays import pack_arrays

    progress = reporter.progress
    conn = reporter

    try:
        config = AnalysisConfig(**spec.config)
        reporter.slow_step(0.01, "loading model")
        loaded = load_model(spec.model_source, spec.settings)
        meta = loaded.meta.model_dump(mode="json")
        meta.update(training_step=loaded.training_step, run_name=loaded.run_name)
        conn.send(("model", meta))
        reporter.slow_step(LOAD_MODEL_END, "loading corpus")
        corpus = resolve_corpus(
            spec.corpus_source,
            loaded.tokenizer,
            window_len=config.window_len,
            max_tokens=config.max_tokens,
            seed=config.seed,
            upload_text=spec.upload_text,
        )
        progress(LOAD_CORPUS_END, "analysis")
        span = 1.0 - LOAD_CORPUS_END
        output = run_analysis(
            loaded.model,
            corpus.windows,
            config,
            loaded.meta,
            corpus.meta,
            progress=lambda f, stage: progress(LOAD_CORPUS_END + span * float(f), stage),
            reference=corpus.reference,
        )
        reporter.slow_step(1.0, "storing the result")
        synthetic = corpus.meta.source.startswith("synthetic:")
        output.arrays.update(vocabulary_table(output.arrays, _decoder(loaded.tokenizer, synthetic)))
        conn.send(("result", output.result.model_dump_json(), pack_arrays(output.arrays)))
    except BrokenPipeError:
        raise
    except (ModelSourceError, ModelLoadError, CorpusError) as exc:
        conn.send(("error", str(exc)))
    except MemoryError:
        conn.send(("error", "out of memory while running the analysis; try a smaller preset"))
    except Exception as exc:
        traceback.print_exc()
        conn.send(("error", f"analysis failed: {type(exc).__name__}: {exc}"))

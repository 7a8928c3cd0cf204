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


def _run(spec: ChildSpec, conn: Connection) -> None:
    from markovlens.analysis import AnalysisConfig, run_analysis
    from markovlens.corpora import CorpusError, resolve_corpus
    from markovlens.models import ModelLoadError, ModelSourceError, load_model
    from markovlens.store.arrays import pack_arrays

    def progress(fraction: float, stage: str) -> None:
        conn.send(("progress", float(fraction), str(stage)))

    try:
        config = AnalysisConfig(**spec.config)
        progress(0.0, "loading model")
        loaded = load_model(spec.model_source, spec.settings)
        meta = loaded.meta.model_dump(mode="json")
        meta.update(training_step=loaded.training_step, run_name=loaded.run_name)
        conn.send(("model", meta))
        progress(LOAD_MODEL_END, "loading corpus")
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

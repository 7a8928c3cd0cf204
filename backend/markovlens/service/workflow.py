"""One workflow from source strings to a result: load the model, resolve the corpus, analyse.

A job's child process, ``markovlens analyze`` and the benchmarks all run it, so a model or
corpus behaves the same wherever it is analysed. Progress is reported as a fraction of the
whole run; failures become one ``SourcesError`` whose message the user can read.

torch, transformers and the analysis are imported inside the functions: the API imports the
service package and must stay torch-free.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from markovlens.settings import Settings

if TYPE_CHECKING:
    from markovlens.corpora import CorpusWindows
    from markovlens.models import LoadedModel
    from markovlens.schema.config import AnalysisConfig
    from markovlens.schema.result import AnalysisOutput

__all__ = [
    "LOAD_CORPUS_END",
    "LOAD_MODEL_END",
    "Progress",
    "Sources",
    "SourcesError",
    "SourcesRun",
    "load_sources",
    "run_sources",
]

# (fraction of the whole run, stage name)
Progress = Callable[[float, str], None]

# Fractions of the progress bar given to each phase before the analysis proper.
LOAD_MODEL_END = 0.05
LOAD_CORPUS_END = 0.10

FailureKind = Literal["model-source", "model-load", "corpus", "memory", "analysis"]
OUT_OF_MEMORY = "out of memory while running the analysis; try a smaller preset"


class SourcesError(Exception):
    """Loading or analysing failed; ``str(error)`` is the message for the user.

    ``kind`` says which step failed. ``bad_input`` is true when the source strings or the
    corpus were wrong (the caller's mistake: the CLI exits 2) rather than the run (exit 1).
    ``kind == "analysis"`` is an unexpected error: its cause carries the traceback.
    """

    def __init__(self, message: str, kind: FailureKind) -> None:
        super().__init__(message)
        self.kind = kind

    @property
    def bad_input(self) -> bool:
        return self.kind in ("model-source", "corpus")


@dataclass
class Sources:
    """A loaded model and the corpus windows cut for it."""

    loaded: LoadedModel
    corpus: CorpusWindows


@dataclass
class SourcesRun(Sources):
    """``Sources`` plus the analysis of them."""

    output: AnalysisOutput


def _ignore(fraction: float, stage: str) -> None:
    """The default progress sink."""


def load_sources(
    model_source: str,
    corpus_source: str,
    settings: Settings,
    *,
    window_len: int,
    max_tokens: int,
    seed: int,
    device: str | None = None,
    dtype: str | None = None,
    upload_text: str | None = None,
    step: Progress | None = None,
    on_model: Callable[[LoadedModel], None] | None = None,
) -> Sources:
    """Load ``model_source`` and cut ``corpus_source`` into windows with its tokenizer.

    ``step(fraction, stage)`` is told when each slow step starts (importing, loading the
    model, loading the corpus); ``on_model`` gets the model as soon as it is loaded, before
    the corpus. Raises ``SourcesError``. ``device``/``dtype`` default to the settings'.
    """
    step = step or _ignore
    step(0.0, "starting: importing libraries")
    from markovlens.corpora import CorpusError, resolve_corpus
    from markovlens.models import ModelLoadError, ModelSourceError, load_model

    try:
        step(0.01, "loading model")
        loaded = load_model(model_source, settings, device=device, dtype=dtype)
        if on_model is not None:
            on_model(loaded)
        step(LOAD_MODEL_END, "loading corpus")
        corpus = resolve_corpus(
            corpus_source,
            loaded.tokenizer,
            window_len=window_len,
            max_tokens=max_tokens,
            seed=seed,
            upload_text=upload_text,
        )
    except ModelSourceError as exc:
        raise SourcesError(str(exc), "model-source") from exc
    except ModelLoadError as exc:
        raise SourcesError(str(exc), "model-load") from exc
    except CorpusError as exc:
        raise SourcesError(str(exc), "corpus") from exc
    except BrokenPipeError:
        raise  # a progress sink whose reader is gone: not a failure of the sources
    except MemoryError as exc:
        raise SourcesError(OUT_OF_MEMORY, "memory") from exc
    except Exception as exc:
        raise SourcesError(f"analysis failed: {type(exc).__name__}: {exc}", "analysis") from exc
    return Sources(loaded, corpus)


def run_sources(
    model_source: str,
    corpus_source: str,
    config: AnalysisConfig,
    settings: Settings,
    *,
    device: str | None = None,
    dtype: str | None = None,
    upload_text: str | None = None,
    progress: Progress | None = None,
    step: Progress | None = None,
    on_model: Callable[[LoadedModel], None] | None = None,
) -> SourcesRun:
    """Load the model, resolve the corpus (``config``'s window_len, max_tokens, seed) and run
    the analysis of ``config`` on them.

    ``progress(fraction, stage)`` gets the analysis's own progress, scaled into
    [``LOAD_CORPUS_END``, 1]; ``step`` the starts of the slow steps before it (defaults to
    ``progress``). ``upload_text`` is the text of an ``upload:`` corpus. Raises
    ``SourcesError``.
    """
    report = progress or _ignore
    sources = load_sources(
        model_source,
        corpus_source,
        settings,
        window_len=config.window_len,
        max_tokens=config.max_tokens,
        seed=config.seed,
        device=device,
        dtype=dtype,
        upload_text=upload_text,
        step=step or report,
        on_model=on_model,
    )
    from markovlens.analysis.pipeline import run_analysis

    report(LOAD_CORPUS_END, "analysis")
    span = 1.0 - LOAD_CORPUS_END

    def scaled(fraction: float, stage: str) -> None:
        report(LOAD_CORPUS_END + span * float(fraction), stage)

    loaded, corpus = sources.loaded, sources.corpus
    try:
        output = run_analysis(
            loaded.model,
            corpus.windows,
            config,
            loaded.meta,
            corpus.meta,
            progress=scaled,
            reference=corpus.reference,
        )
    except BrokenPipeError:
        raise
    except MemoryError as exc:
        raise SourcesError(OUT_OF_MEMORY, "memory") from exc
    except Exception as exc:
        raise SourcesError(f"analysis failed: {type(exc).__name__}: {exc}", "analysis") from exc
    return SourcesRun(loaded, corpus, output)

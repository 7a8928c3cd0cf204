"""Structured logs: one JSON object per line, with the job id and worker id when known.

``job_context(job_id, worker_id)`` binds the ids for everything logged inside it on this
thread (contextvars are per thread). Messages written as ``"job %s: ..."`` by code that runs
outside a context still get ``job_id`` from their first argument, so every job line of the
existing modules is searchable by job.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

_job_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("job_id", default=None)
_worker_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("worker_id", default=None)
_HANDLER_NAME = "markovlens-structured"
# C0 and C1 controls (tab kept) and the Unicode line separators: a submitted string such as
# "hf:org/name@main\n... CRITICAL ..." must not start a forged line in a text log.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def escape_control(text: str) -> str:
    """``text`` with every control character written as an escape (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode(), text)


class EscapingFormatter(logging.Formatter):
    """The text format, one record per line: control characters in the message (every
    logged value is in it) are escaped. A traceback, appended after, keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_control(record.message)
        return super().formatMessage(record)


@contextmanager
def job_context(job_id: int | None, worker_id: str | None = None) -> Iterator[None]:
    """Bind ``job_id`` (and ``worker_id``) to the log records of this thread."""
    job_token = _job_id.set(job_id)
    worker_token = _worker_id.set(worker_id) if worker_id is not None else None
    try:
        yield
    finally:
        _job_id.reset(job_token)
        if worker_token is not None:
            _worker_id.reset(worker_token)


def bind_job(job_id: int | None) -> None:
    """Bind ``job_id`` for the rest of this thread's life (the analysis child process)."""
    _job_id.set(job_id)


def bind_worker(worker_id: str | None) -> None:
    """Bind ``worker_id`` for the rest of this thread's life (a worker's consumer thread)."""
    _worker_id.set(worker_id)


def _job_from_message(record: logging.LogRecord) -> int | None:
    if isinstance(record.msg, str) and record.msg.startswith("job %s") and record.args:
        first = record.args[0] if isinstance(record.args, tuple) else None
        try:
            return int(first) if isinstance(first, int | str) else None
        except (TypeError, ValueError):
            return None
    return None


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", "job_id"?, "worker_id"?, "exc"?}`` per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
            "thread": record.threadName,
        }
        job_id = getattr(record, "job_id", None)
        if job_id is None:
            job_id = _job_id.get() or _job_from_message(record)
        if job_id is not None:
            entry["job_id"] = int(job_id)
        worker_id = getattr(record, "worker_id", None) or _worker_id.get()
        if worker_id is not None:
            entry["worker_id"] = worker_id
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time.

    A handler bound to the stream object seen at set-up keeps writing to it after the process
    swaps stderr (test runners, embedding), and then fails on a closed file.
    """

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:  # StreamHandler.__init__ assigns it; ignore
        return None


def configure_logging(fmt: str = "text", level: str = "INFO") -> None:
    """Install one stderr handler on the root logger: ``json`` (structured) or ``text``.

    Idempotent: calling it again replaces our handler, never stacks a second one.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = _CurrentStderrHandler()
    handler.set_name(_HANDLER_NAME)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(EscapingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())

"""Errors of the jobs service; each message is meant for the user (the API returns it)."""

from __future__ import annotations


class SubmitError(ValueError):
    """The submission is invalid (bad source, bad config, upload too large...). HTTP 422."""


class NotFoundError(LookupError):
    """No such job, result, model or corpus. HTTP 404."""


class JobStateError(RuntimeError):
    """The job is in a state that forbids the action (cancel a finished job). HTTP 409."""


class QueueUnavailableError(RuntimeError):
    """The job row was written but its id could not be put on the queue. HTTP 503."""


class StorageFullError(SubmitError):
    """An upload would exceed the corpora storage budget. HTTP 507."""

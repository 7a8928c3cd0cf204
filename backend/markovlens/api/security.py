"""Hardening of the HTTP surface, installed in one call. Each piece has its own module:

- ``headers.py``: CSP and the other security headers on every response;
- ``guard.py``: host, origin and write-token checks from the headers alone;
- ``bodylimit.py``: body size limits and the body deadline;
- ``concurrency.py``: the cap on API requests running at once;
- ``ratelimit.py``: token buckets for writes and invalid tokens;
- ``auth.py``: bearer tokens (writes, reads, ``/metrics``), the client key, ``serve`` binds;
- ``addresses.py``: the client address, through trusted proxies only;
- ``origin.py``: served host names, cross-site and simple-request refusals;
- ``slowclients.py``: the uvicorn protocol bounding the time to send request headers;
- ``deps.py``: the route guards (``WRITE_GUARD``...) built on ``auth.py`` and ``ratelimit.py``;
- ``error_handlers.py``: every exception-to-status mapping.
"""

from __future__ import annotations

from fastapi import FastAPI

from markovlens.api.bodylimit import BodyLimit
from markovlens.api.concurrency import MAX_CONCURRENT_API_REQUESTS, ConcurrencyLimit
from markovlens.api.guard import RequestGuard
from markovlens.api.headers import SecurityHeaders
from markovlens.api.ratelimit import make_auth_failure_limiter, make_write_limiter
from markovlens.settings import Settings


def install_security(app: FastAPI, settings: Settings) -> None:
    """The middlewares (outermost last) and the rate limiters."""
    # Innermost: only requests whose body fully arrived are counted (a slow body never is).
    app.add_middleware(ConcurrencyLimit, limit=MAX_CONCURRENT_API_REQUESTS)
    app.add_middleware(BodyLimit, settings=settings)  # after the guard: no body read for refusals
    app.add_middleware(RequestGuard, settings=settings, state=app.state)
    app.add_middleware(SecurityHeaders)  # outermost: the guard's refusals get the headers too
    app.state.write_limiter = make_write_limiter(settings)
    app.state.auth_failure_limiter = make_auth_failure_limiter(settings)

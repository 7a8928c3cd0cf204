"""Hardening of the HTTP surface, installed in one call; the pieces live by concern:

- ``auth.py``: bearer tokens (writes, reads, ``/metrics``), the client key, ``serve`` binds;
- ``addresses.py``: the client address, through trusted proxies only;
- ``origin.py``: served host names, cross-site and simple-request refusals;
- ``ratelimit.py``: token buckets for writes and invalid tokens;
- ``guard.py``: the middleware that applies all of it before any body is read, and the
  concurrency cap;
- ``errors.py``: every exception-to-status mapping.

Names used elsewhere (the CLI, the tests) are re-exported here.
"""

from __future__ import annotations

from fastapi import FastAPI

from markovlens.api.auth import (
    bearer_token,
    bind_refusal,
    client_key,
    is_loopback,
    require_metrics_token,
    require_read_token,
    require_write_token,
    token_matches,
)
from markovlens.api.guard import (
    CONTENT_SECURITY_POLICY,
    DOCS_CONTENT_SECURITY_POLICY,
    MAX_CONCURRENT_API_REQUESTS,
    MAX_JSON_BODY_BYTES,
    SECURITY_HEADERS,
    ConcurrencyLimit,
    SecurityMiddleware,
)
from markovlens.api.ratelimit import (
    RateLimiter,
    make_auth_failure_limiter,
    make_write_limiter,
)
from markovlens.settings import Settings

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "DOCS_CONTENT_SECURITY_POLICY",
    "MAX_CONCURRENT_API_REQUESTS",
    "MAX_JSON_BODY_BYTES",
    "SECURITY_HEADERS",
    "ConcurrencyLimit",
    "RateLimiter",
    "SecurityMiddleware",
    "bearer_token",
    "bind_refusal",
    "client_key",
    "install_security",
    "is_loopback",
    "require_metrics_token",
    "require_read_token",
    "require_write_token",
    "token_matches",
]


def install_security(app: FastAPI, settings: Settings) -> None:
    """The guard middleware, the concurrency cap and the rate limiters."""
    # Inner: only requests whose body fully arrived are counted (a slow body never is).
    app.add_middleware(ConcurrencyLimit, limit=MAX_CONCURRENT_API_REQUESTS)
    app.add_middleware(SecurityMiddleware, settings=settings, state=app.state)
    app.state.write_limiter = make_write_limiter(settings)
    app.state.auth_failure_limiter = make_auth_failure_limiter(settings)

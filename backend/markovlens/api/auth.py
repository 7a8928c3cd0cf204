"""Bearer tokens: who may write, read and scrape; the client key rate limits are charged to.

Tokens are compared in constant time and never logged: only a short SHA-256 prefix of a
*verified* token is used as a key (rate-limit buckets). An unchecked ``Authorization`` value
is never a key, or a client could name a fresh bucket per request.

The write check runs in the request guard (``guard.py``) before any body is read; the
dependencies below repeat nothing the guard already did for this request.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Sequence
from typing import Any

from fastapi import HTTPException, Request, status

from markovlens.api.addresses import client_address
from markovlens.api.ratelimit import RateLimiter, too_many_requests
from markovlens.settings import Settings

# Keys of the ASGI scope's "state" (``request.state``) set by the guard.
CLIENT_KEY = "markovlens_client_key"
WRITE_CHECKED = "markovlens_write_checked"


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def token_matches(presented: str, tokens: Sequence[str]) -> bool:
    """Constant-time membership test.

    Both sides are hashed first so ``compare_digest`` always sees equal lengths (no length
    leak), and every configured token is compared (no early exit revealing which one matched).
    """
    presented_digest = _digest(presented)
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(presented_digest, _digest(token))
    return matched


def parse_bearer(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value, else None."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def bearer_token(request: Request) -> str | None:
    return parse_bearer(request.headers.get("authorization", ""))


def token_key(token: str) -> str:
    return "token:" + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def address_key(scope: dict[str, Any] | Any, settings: Settings) -> str:
    """``addr:<client address>``, through trusted proxies only (``addresses.py``)."""
    client = scope.get("client")
    peer = client[0] if client else None
    forwarded = [
        value.decode("latin-1")
        for name, value in scope.get("headers", [])
        if name == b"x-forwarded-for"
    ]
    return "addr:" + client_address(peer, forwarded, settings.trusted_proxies)


def verify_bearer(
    authorization: str,
    tokens: Sequence[str],
    *,
    address: str,
    failures: RateLimiter | None,
    what: str,
) -> str:
    """The rate-limit key of a valid token; else 401, or 429 once the address's budget of
    invalid tokens is spent (for valid tokens too: a guesser cannot tell a hit)."""
    presented = parse_bearer(authorization)
    if presented is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"{what} needs a bearer token (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if failures is not None and (wait := failures.peek(address)) > 0:
        raise too_many_requests("invalid tokens from this address", wait)
    if not token_matches(presented, tokens):
        if failures is not None:
            failures.acquire(address)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "the bearer token is not valid",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return token_key(presented)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _check(request: Request, tokens: Sequence[str], what: str) -> str:
    return verify_bearer(
        request.headers.get("authorization", ""),
        tokens,
        address=address_key(request.scope, _settings(request)),
        failures=getattr(request.app.state, "auth_failure_limiter", None),
        what=what,
    )


def require_write_token(request: Request) -> None:
    """Writes (submit, cancel, upload) need a valid token once tokens are configured."""
    settings = _settings(request)
    if not settings.api_tokens or getattr(request.state, WRITE_CHECKED, False):
        return
    setattr(request.state, CLIENT_KEY, _check(request, settings.api_tokens, "this endpoint"))
    setattr(request.state, WRITE_CHECKED, True)


def require_read_token(request: Request) -> None:
    """Reads need a token too when ``MARKOVLENS_PROTECT_READS`` is on (and tokens exist)."""
    settings = _settings(request)
    if settings.api_tokens and settings.protect_reads:
        _check(request, settings.api_tokens, "reading this server")


def require_metrics_token(request: Request) -> None:
    """``/metrics`` needs ``METRICS_TOKEN`` (or an API token) once either that is set or reads
    are protected: it names queues and worker hosts."""
    settings = _settings(request)
    protected = settings.api_tokens and settings.protect_reads
    if not settings.metrics_token and not protected:
        return
    accepted = [*settings.api_tokens, *([settings.metrics_token] if settings.metrics_token else [])]
    _check(request, accepted, "/metrics")


def client_key(request: Request) -> str:
    """Rate-limit key: the verified token (hashed) or the client address, never an unchecked
    ``Authorization`` value."""
    key = getattr(request.state, CLIENT_KEY, None)
    return key if isinstance(key, str) else address_key(request.scope, _settings(request))


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the service reachable from this machine only."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def bind_refusal(host: str, settings: Settings, *, insecure: bool) -> str | None:
    """Why ``serve`` must not bind ``host``; None when it may."""
    if is_loopback(host) or settings.api_tokens or insecure:
        return None
    return (
        f"refusing to bind {host} without MARKOVLENS_API_TOKENS: anyone on the network could "
        "submit and cancel jobs. Set tokens, bind 127.0.0.1, or pass --insecure to accept that"
    )

"""Which requests come from this server's own pages, and which names it answers to.

Three checks keep other web pages from driving a server the user runs locally:

- **Host** must be a name this server is served under (IP literals, ``localhost``, this
  machine's names, ``MARKOVLENS_ALLOWED_HOSTS``). A DNS-rebinding page reaches us under the
  attacker's own name, so its requests carry that name in ``Host``.
- **Cross-site writes** are refused: an ``Origin`` other than our own, or a
  ``Sec-Fetch-Site`` other than ``same-origin``/``none`` (another port on localhost is
  "same-site", and still another origin).
- **Writes must be non-simple requests**: a JSON body, an ``Authorization`` header or the
  ``X-Markovlens-Client`` header that the UI and the CLI send. A browser sends none of these
  cross-origin without a CORS preflight, which this server never grants.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

CLIENT_HEADER = "X-Markovlens-Client"
_CLIENT_HEADER = CLIENT_HEADER.lower().encode()
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SAME = frozenset({"same-origin", "none"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}


@lru_cache(maxsize=1)
def machine_names() -> frozenset[str]:
    """This machine's own names: a LAN user may type them in the address bar."""
    names = {"localhost"}
    for name in (socket.gethostname(), socket.getfqdn()):
        if name:
            names.add(name.lower().rstrip("."))
    return frozenset(names)


def split_host(host: str) -> tuple[str, str | None]:
    """``name:port`` / ``[v6]:port`` → (name, port); the name lower-cased, brackets kept off."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        return name, rest.removeprefix(":") or None
    name, colon, port = host.rpartition(":")
    if not colon or ":" in name:  # no port, or a bare IPv6 address
        return host, None
    return name, port or None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """IP literals (rebinding needs a name), our own names, and the configured ones."""
    name, _ = split_host(host)
    allowed = [item.strip().lower().rstrip(".") for item in allowed]
    if "*" in allowed:
        return True
    if not name:
        return False
    name = name.rstrip(".")
    return _is_ip(name) or name in machine_names() or name in allowed


def _origin_matches(origin: str, host: str, scheme: str) -> bool:
    parts = urlsplit(origin)
    if not parts.scheme or not parts.hostname:
        return False  # "null" (sandboxed frames, file://) is never ours
    name, port = split_host(host)
    if parts.hostname.lower() != name.strip("[]"):
        return False
    origin_port = str(parts.port) if parts.port else _DEFAULT_PORTS.get(parts.scheme)
    if port is None:
        # "Host: name" means a default port; behind a TLS proxy the scheme (so which default)
        # differs between the two sides. Another explicit port is another origin.
        return origin_port in _DEFAULT_PORTS.values()
    return origin_port == port


def cross_site_refusal(headers: dict[bytes, bytes], scheme: str) -> str | None:
    """Why a write looks like it came from another site's page; None when it does not."""
    fetch_site = headers.get(b"sec-fetch-site", b"").decode("latin-1").strip().lower()
    if fetch_site and fetch_site not in _SAME:
        return f"cross-site write refused (Sec-Fetch-Site: {fetch_site}): use this server's own UI"
    origin = headers.get(b"origin")
    if origin is not None:
        host = headers.get(b"host", b"").decode("latin-1")
        if not _origin_matches(origin.decode("latin-1"), host, scheme):
            return "cross-origin write refused (Origin is not this server): use this server's UI"
    return None


def simple_request_refusal(headers: dict[bytes, bytes]) -> str | None:
    """Why a write is a "simple" request another page could send unseen; None when it is not."""
    content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if content_type == b"application/json" or headers.get(b"authorization", b"").strip():
        return None
    if headers.get(_CLIENT_HEADER, b"").strip():
        return None
    return (
        "writes need a JSON body, an Authorization header or the "
        f"{CLIENT_HEADER} header (the web UI and the CLI send it)"
    )

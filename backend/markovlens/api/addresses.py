"""The client address a request is keyed on (rate limits, the invalid-token lockout).

``X-Forwarded-For`` is believed only from configured proxies (``MARKOVLENS_TRUSTED_PROXIES``;
empty by default). Trusting it from anyone, loopback included, lets a client name a fresh
address per request and escape the lockout; trusting nobody behind a proxy makes every
client share the proxy's address (one guesser locks all of them out). The trade-off is the
operator's to make, explicitly.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=32)
def parse_networks(items: tuple[str, ...]) -> tuple[Network, ...]:
    """``10.0.0.1``, ``10.0.0.0/8``, ``::1`` → networks; a bad item raises ValueError."""
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items)


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address: str, networks: Sequence[Network]) -> bool:
    ip = _ip(address)
    return ip is not None and any(ip in network for network in networks)


def client_address(peer: str | None, forwarded_for: Iterable[str], proxies: Sequence[str]) -> str:
    """The peer, or (when the peer is a trusted proxy) the last untrusted forwarded hop.

    Walks ``X-Forwarded-For`` from the right: each trusted proxy appended the address it
    saw, so the first address from the right that is not a trusted proxy is the client.
    Anything to its left was written by the client itself and is never believed.
    """
    address = peer or "unknown"
    if not proxies:
        return address
    networks = parse_networks(tuple(proxies))
    if not _trusted(address, networks):
        return address
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if _ip(hop) is None:
            return address  # garbage in the chain: fall back to the proxy itself
        address = hop
        if not _trusted(hop, networks):
            break
    return address

"""A uvicorn HTTP protocol that closes connections slow to send their request headers.

uvicorn bounds the idle time between requests (keep-alive) but not the time a client may
take to finish a request's headers, so a client sending one header byte now and then holds a
connection (and a file descriptor) for as long as it likes. The request body is bounded by
the guard middleware (``body_timeout_seconds``); this bounds what comes before it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)


def header_timeout_protocol(seconds: float) -> type[asyncio.Protocol]:
    """An ``H11Protocol`` whose connections close when headers take longer than ``seconds``."""

    class HeaderTimeoutProtocol(H11Protocol):
        header_timeout = seconds

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self._header_timer: asyncio.TimerHandle | None = None
            super().connection_made(transport)
            self._arm()

        def _arm(self) -> None:
            self._disarm()
            self._cycle_at_arm: Any = self.cycle
            self._header_timer = self.loop.call_later(self.header_timeout, self._expired)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.cycle is not self._cycle_at_arm:  # the headers are complete
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()  # the next request's headers get the same bound

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _expired(self) -> None:
            self._header_timer = None
            idle = self.cycle is None or self.cycle.response_complete
            if self.cycle is self._cycle_at_arm and idle and not self.transport.is_closing():
                log.info("closing a connection: no complete request headers in %g s", seconds)
                self.transport.close()

    return HeaderTimeoutProtocol

"""HTTP connections: a deadline for each request's headers. uvicorn closes idle keep-alive
connections but waits for ever on headers that trickle in, so a few slow clients could hold
every connection of a worker (slowloris); a stalled body is answered 408 by the request's own
deadline (FEED_BODY_TIMEOUT_SECONDS)."""

import asyncio
from functools import cache

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from feed.config import Settings


@cache
def _header_seconds() -> float:
    return Settings().header_timeout_seconds


class HeaderDeadline(HttpToolsProtocol):
    """Closes a connection whose request line and headers have not all arrived within
    FEED_HEADER_TIMEOUT_SECONDS of its first byte (or of the connection, if it says nothing)."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start()

    def on_headers_complete(self) -> None:
        self._stop()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        super().connection_lost(exc)

    def _start(self) -> None:
        self._stop()
        self._deadline = self.loop.call_later(_header_seconds(), self._expire)

    def _stop(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

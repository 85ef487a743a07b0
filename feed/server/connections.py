"""HTTP connections: a deadline for each request's headers, and whether a connection is in
use. uvicorn closes idle keep-alive connections but waits for ever on headers that trickle
in, so a few slow clients could hold every connection of a worker (slowloris); a stalled body
is answered 408 by the request's own deadline (FEED_BODY_TIMEOUT_SECONDS)."""

import asyncio
import time
from collections.abc import Callable
from functools import cache

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from feed.config import Settings

# A connection asked nothing for this long is idle, as a poller's keep-alive connection is
# between polls; one answering, or made or asked something since, is in use.
_IN_USE_SECONDS = 1.0


@cache
def _header_seconds() -> float:
    return Settings().header_timeout_seconds


class HeaderDeadline(HttpToolsProtocol):
    """Closes a connection whose request line and headers have not all arrived within
    FEED_HEADER_TIMEOUT_SECONDS of its first byte (or of the connection, if it says nothing)."""

    _deadline: asyncio.TimerHandle | None = None
    _asked_at = 0.0  # monotonic time of the connection, then of its latest request
    # Called when an idle connection is asked something again: it is in use from then on.
    back_in_use: Callable[[], None] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._asked_at = time.monotonic()  # before uvicorn records the connection
        super().connection_made(transport)
        self._start()

    def on_message_begin(self) -> None:
        now = time.monotonic()
        idle = not self.in_use(now)
        super().on_message_begin()
        self._asked_at = now
        self._start()
        if idle and self.back_in_use is not None:
            self.back_in_use()

    def in_use(self, now: float) -> bool:
        """Whether the connection is answering a request, or was made or asked something
        within _IN_USE_SECONDS of `now` (monotonic); a keep-alive connection left idle is not."""
        answering = self.cycle is not None and not self.cycle.response_complete
        return answering or self._asked_at >= now - _IN_USE_SECONDS

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

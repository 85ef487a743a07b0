"""Connections: headers that trickle in are cut off, and others are served meanwhile."""

import socket
import time

import httpx2

from feed.config import Settings
from tests.conftest import World
from tests.serving import serving


def test_headers_that_trickle_in_are_cut_off(settings: Settings, world: World) -> None:
    with serving(settings.model_copy(update={"header_timeout_seconds": 1.0})) as base:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as slow:
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            started = time.monotonic()
            assert httpx2.get(f"{base}/healthz").status_code == 200
            slow.settimeout(15)
            closed = slow.recv(1024) == b""
        waited = time.monotonic() - started
    assert closed
    assert 0.5 < waited < 10

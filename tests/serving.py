"""A real `feed serve` process on 127.0.0.1, for tests that drive the server over a socket."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2

from feed.config import Settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(settings: Settings, *, workers: int = 1) -> Iterator[str]:
    """Start `feed serve` with these settings, yield its base URL, and stop it afterwards."""
    with server_process(settings, workers=workers) as (base, _):
        yield base


@contextmanager
def server_process(
    settings: Settings, *, workers: int = 1, port: int | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`feed serve` as a process the test may also kill; its base URL and the process."""
    port = port or free_port()
    env = {
        **os.environ,
        "FEED_DATABASE_URL": settings.database_url,
        "FEED_PAGE_LIMIT_MAX": str(settings.page_limit_max),
        "FEED_MAX_CONTENT_LENGTH": str(settings.max_content_length),
        "FEED_BODY_TIMEOUT_SECONDS": str(settings.body_timeout_seconds),
        "FEED_HEADER_TIMEOUT_SECONDS": str(settings.header_timeout_seconds),
        "FEED_RATE_LIMIT_PER_MINUTE": str(settings.rate_limit_per_minute),
        "FEED_LOG_LEVEL": "warning",
    }
    command = ["serve", "--port", str(port), "--workers", str(workers)]
    with feed_process(command, port, env) as running:
        yield running


@contextmanager
def feed_process(
    arguments: list[str], port: int, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run `feed ARGUMENTS` until it answers /healthz on `port`; stop it afterwards."""
    command = [sys.executable, "-m", "feed.cli", *arguments]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                error = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"feed {arguments[0]} exited: {error}")
            try:
                if httpx2.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"feed {arguments[0]} did not become healthy in 30 s")
            time.sleep(0.1)
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()

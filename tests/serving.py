"""A real `feed serve` process on 127.0.0.1, for tests that drive the server over a socket."""

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.servers import free_port, running
from feed.config import Settings


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
        "FEED_WORKER_STALL_SECONDS": str(settings.worker_stall_seconds),
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
    base = f"http://127.0.0.1:{port}"
    handle, name = tempfile.mkstemp(prefix=f"feed-{arguments[0]}-", suffix=".log")
    os.close(handle)
    log = Path(name)
    try:
        with running(command, f"{base}/healthz", log=log, env=env, startup=30) as process:
            yield base, process
    finally:
        log.unlink(missing_ok=True)

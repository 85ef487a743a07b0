"""A real `feed sandbox` process on 127.0.0.1, for the sandbox and integrator-guide tests."""

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2

from tests.serving import free_port


@contextmanager
def sandbox(
    workdir: Path, *, seed: int = 3, rhythm: float = 0.5, indicators: int = 40
) -> Iterator[str]:
    port = free_port()
    command = [
        sys.executable, "-m", "feed.cli", "sandbox", "--port", str(port), "--seed", str(seed),
        "--rhythm", str(rhythm), "--indicators", str(indicators),
        "--database-url", f"sqlite:///{workdir}/sandbox-{port}.db",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                error = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"feed sandbox exited: {error}")
            try:
                if httpx2.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("feed sandbox did not become healthy in 30 s")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()

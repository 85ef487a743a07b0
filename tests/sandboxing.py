"""A real `feed sandbox` process on 127.0.0.1, for the sandbox and integrator-guide tests."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.servers import free_port
from tests.serving import feed_process


@contextmanager
def sandbox(
    workdir: Path, *, seed: int = 3, rhythm: float = 0.5, indicators: int = 40
) -> Iterator[str]:
    port = free_port()
    arguments = [
        "sandbox", "--port", str(port), "--seed", str(seed), "--rhythm", str(rhythm),
        "--indicators", str(indicators), "--database-url", f"sqlite:///{workdir}/sandbox-{port}.db",
    ]  # fmt: skip
    with feed_process(arguments, port) as (base, _):
        yield base

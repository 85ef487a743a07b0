"""`feed serve` and `feed db`: the server process and its schema."""

import contextlib
import copy
import os
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType

import click
from sqlalchemy import make_url

from feed.cli.base import main, reports_errors
from feed.config import Settings
from feed.database import create_engine_for, migrate
from feed.errors import ConfigurationError
from feed.sqlite import back_up


@main.command()
@click.option("--host", help="Address to listen on [FEED_HOST, default 127.0.0.1].")
@click.option("--port", type=int, help="Port [FEED_PORT, default 8000].")
@click.option("--workers", type=int, help="Worker processes [FEED_WORKERS, default 1].")
@reports_errors
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Migrate the database, then serve TAXII 2.1."""
    _run({"FEED_HOST": host, "FEED_PORT": port, "FEED_WORKERS": workers})


def _run(overrides: dict[str, object | None]) -> None:
    """Migrate, then serve with uvicorn: in this process, or with several workers in
    processes of their own that the connections are handed to (`feed.server.workers`).
    Workers read their settings from the environment, so the overrides go there."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    from feed.server import workers
    from feed.server.connections import HeaderDeadline

    for name, value in overrides.items():
        if value is not None:
            os.environ[name] = str(value)
    settings = Settings.from_environment()
    engine = create_engine_for(settings)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["feed"] = {"handlers": ["default"], "level": settings.log_level.upper()}
    config = uvicorn.Config(
        "feed.server.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        log_config=log_config,
        access_log=False,  # feed.access logs each request with its organisation
        http=HeaderDeadline,
    )
    if settings.workers > 1:
        workers.serve(config, stall_seconds=settings.worker_stall_seconds)
        return
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn raises its stop signal again
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8001, show_default=True)
@click.option(
    "--database-url",
    envvar="FEED_SANDBOX_DATABASE_URL",
    help="Its own database [FEED_SANDBOX_DATABASE_URL]; default: a new SQLite file, deleted "
    "on exit. It is wiped on start.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same data.")
@click.option(
    "--rhythm", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
    help="Seconds between the simulated watchdog's changes.",
)  # fmt: skip
@click.option("--indicators", type=click.IntRange(min=1), default=200, show_default=True)
@reports_errors
def sandbox(
    host: str, port: int, database_url: str | None, seed: int, rhythm: float, indicators: int
) -> None:
    """Serve a sandbox: synthetic indicators on test networks, demo organisations with fixed
    keys (see the integrator guide), and a simulated watchdog that adds, updates, revokes and
    lets indicators expire. Every response carries an X-Feed-Sandbox header."""
    # uvicorn shuts down on SIGTERM, then raises it again: with the default action the process
    # would end there, before its scratch directory and default database are removed.
    signal.signal(signal.SIGTERM, _exit)
    with tempfile.TemporaryDirectory(prefix="feed-sandbox-") as scratch:
        _run(
            {
                "FEED_SANDBOX": "true",
                "FEED_DATABASE_URL": database_url or f"sqlite:///{scratch}/sandbox.db",
                "FEED_HOST": host,
                "FEED_PORT": port,
                "FEED_WORKERS": 1,
                "FEED_SANDBOX_SEED": seed,
                "FEED_SANDBOX_RHYTHM": rhythm,
                "FEED_SANDBOX_INDICATORS": indicators,
                "FEED_TITLE": "Flagged-address feed SANDBOX",
            }
        )


def _exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@main.group()
def db() -> None:
    """Database schema and backups."""


@db.command()
@reports_errors
def upgrade() -> None:
    """Create or upgrade the schema to the newest revision."""
    engine = create_engine_for(Settings.from_environment())
    try:
        migrate(engine)
    finally:
        engine.dispose()
    click.echo("database is at the newest revision")


@db.command()
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
@reports_errors
def backup(destination: Path) -> None:
    """Copy the SQLite database into DESTINATION, a new file, while the server runs: what it
    held at one moment, checked. PostgreSQL is backed up with its own tools (pg_dump)."""
    url = make_url(Settings.from_environment().database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        raise ConfigurationError(
            f"the database is {url.get_backend_name()}, not a SQLite file: back it up with its "
            "own tools (pg_dump for PostgreSQL)"
        )
    size = back_up(url.database, destination)
    click.echo(f"backed {url.database} up to {destination} ({size:,} bytes)")

"""`feed serve` and `feed db`: the server process and its schema."""

import copy
import os

import click

from feed.cli.base import main, reports_errors
from feed.config import Settings
from feed.store import create_engine_for, migrate


@main.command()
@click.option("--host", help="Address to listen on [FEED_HOST, default 127.0.0.1].")
@click.option("--port", type=int, help="Port [FEED_PORT, default 8000].")
@click.option("--workers", type=int, help="Worker processes [FEED_WORKERS, default 1].")
@reports_errors
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Migrate the database, then serve TAXII 2.1."""
    import uvicorn

    # Workers are separate processes that read their settings from the environment.
    for name, value in (("FEED_HOST", host), ("FEED_PORT", port), ("FEED_WORKERS", workers)):
        if value is not None:
            os.environ[name] = str(value)
    settings = Settings()
    engine = create_engine_for(settings)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["feed"] = {"handlers": ["default"], "level": settings.log_level.upper()}
    uvicorn.run(
        "feed.server.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        log_config=log_config,
        access_log=False,  # feed.access logs each request with its organisation
    )


@main.group()
def db() -> None:
    """Database schema."""


@db.command()
@reports_errors
def upgrade() -> None:
    """Create or upgrade the schema to the newest revision."""
    engine = create_engine_for(Settings())
    try:
        migrate(engine)
    finally:
        engine.dispose()
    click.echo("database is at the newest revision")

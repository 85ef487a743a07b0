"""The `feed` command group and what its commands share: error reporting, output, options."""

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
from sqlmodel import Session

from feed.config import Settings
from feed.database import create_engine_for, migrate
from feed.errors import FeedError
from feed.store import Store

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a FeedError into a one-line message and exit status 1, without a traceback."""

    @wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except FeedError as error:
            click.echo(f"error: {error.description}", err=True)
            sys.exit(1)

    return run


@contextmanager
def writing() -> Iterator[Session]:
    """A write transaction on the configured database, migrated first."""
    engine = create_engine_for(Settings())
    try:
        migrate(engine)
        with Store(engine).writing() as session:
            yield session
    finally:
        engine.dispose()


def emit(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        for name, value in data.items():
            click.echo(f"{name}: {value}")


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group()
def main() -> None:
    """Flagged cryptocurrency addresses over TAXII 2.1 (settings: FEED_* environment)."""


url_option = click.option(
    "--url",
    envvar="FEED_URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="The server [FEED_URL].",
)
key_option = click.option(
    "--key", envvar="FEED_KEY", required=True, help="Your API key, <id>.<secret> [FEED_KEY]."
)
feed_option = click.option("--feed", "feed_name", required=True, help="The feed's id or alias.")
mirror_option = click.option(
    "--mirror",
    "mirror_path",
    envvar="FEED_MIRROR",
    default="mirror.db",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The local mirror, a SQLite file [FEED_MIRROR].",
)

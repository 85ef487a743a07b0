"""The `feed` command group and what its commands share: error reporting, output, options."""

import importlib
import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from feed.errors import FeedError

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a FeedError into a one-line message and exit status 1, without a traceback."""

    @wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except FeedError as error:
            click.echo(f"error: {shown(error.description)}", err=True)
            sys.exit(1)

    return run


def shown(text: str) -> str:
    """`text` as one line of a terminal: what is not printable (control characters, line
    breaks, bidirectional overrides) escaped. Addresses in a screened file, a remote server's
    words and a subscriber's reasons are others' text: written raw, one could erase the
    lines above it, such as a hit, or start lines of its own."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def age(seconds: float | None) -> str:
    """A duration as people read it: 45s, 12.5m, 3.0h, 2.1d; "-" for none."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def emit(data: dict[str, Any], as_json: bool) -> None:
    """`data` as JSON, or a `name: value` line for each value it has (None is left out)."""
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        for name, value in data.items():
            if value is not None:
                click.echo(f"{name}: {value}")


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")

# The exit status of a screen, check or lookup that found a flagged address.
HIT = 3


# Each command's module, imported when the command runs: screening a file or checking an
# address need not first load the server's database layer, half a second of every run.
COMMAND_MODULES = {
    "acks": "watchdog",
    "admin": "admin",
    "chains": "watchdog",
    "check": "screening",
    "db": "server",
    "hits": "watchdog",
    "import-ofac": "watchdog",
    "lookup": "exchange",
    "mirror": "mirror",
    "poll": "exchange",
    "publish": "watchdog",
    "report-hit": "exchange",
    "sandbox": "server",
    "screen": "screening",
    "serve": "server",
}


class _Commands(click.Group):
    """The group whose commands register themselves on it when their module is imported."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMAND_MODULES:
            importlib.import_module(f"feed.cli.{COMMAND_MODULES[cmd_name]}")
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Commands)
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

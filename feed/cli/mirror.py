"""The exchange's commands over its mirror as a whole: `feed mirror list` of the feeds it holds,
and `feed mirror forget` of one, whose indicators then screen no more."""

import json
from pathlib import Path

import click

from feed.cli.base import age, json_option, main, mirror_option, reports_errors, shown
from feed.errors import counted
from feed.mirror import Mirror
from feed.taxii import now_micros, parse_timestamp


@main.group()
def mirror() -> None:
    """The local mirror's feeds (as an exchange)."""


@mirror.command("list")
@mirror_option
@json_option
@reports_errors
def list_feeds(mirror_path: Path, as_json: bool) -> None:
    """List the feeds the mirror holds: where each comes from, when it was last polled, how
    far, and how many of its indicators are active and how many left the active set."""
    with Mirror(mirror_path, create=False) as opened:
        feeds = opened.feeds()
    if as_json:
        click.echo(json.dumps([feed._asdict() for feed in feeds], indent=2))
        return
    now = now_micros()
    for feed in feeds:
        since = None if feed.last_poll is None else (now - parse_timestamp(feed.last_poll)) / 1e6
        click.echo(
            f"{shown(feed.name)}\t{shown(feed.url)}\tpolled {age(since)} ago\t"
            f"through {feed.watermark or '-'}\t{feed.active:,} active\t{feed.left:,} left"
        )


@mirror.command()
@click.argument("feed_name", metavar="FEED")
@mirror_option
@reports_errors
def forget(feed_name: str, mirror_path: Path) -> None:
    """Take FEED (alias or id) and its indicators out of the mirror, so that they screen no
    more: a feed whose grant was withdrawn, say. A feed the key may still read comes back
    at the next `feed poll` that names no feed."""
    with Mirror(mirror_path, create=False) as opened:
        gone = opened.forget(feed_name)
    click.echo(
        f"{shown(gone.name)}: forgotten, with its {counted(gone.active, 'active indicator')} "
        f"and {gone.left:,} that had left"
    )

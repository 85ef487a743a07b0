"""The exchange's commands that talk to the server: `feed poll` into the local mirror,
`feed lookup` without one, and `feed report-hit` (screening against the mirror is in
`feed.cli.screening`)."""

import json
import random
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import click

from feed.addresses import LONGEST_SHOWN
from feed.cli.base import (
    HIT,
    json_option,
    key_option,
    main,
    mirror_option,
    reports_errors,
    shown,
    url_option,
)
from feed.client import FeedClient, lookup, subscribed_feeds
from feed.errors import ConfigurationError, MirrorError, RemoteError, clipped, counted
from feed.mirror import Mirror
from feed.polling import Polled, poll
from feed.stix import checked_indicator_id


def _progress(polled: Polled) -> None:
    if polled.pages % 10 == 0:
        click.echo(f"{shown(polled.feed)}: {counted(polled.objects, 'object')} so far", err=True)


def _every_feed(url: str, key: str, mirror: Mirror) -> list[str]:
    """The feeds `key` is granted on the server at `url`, asked anew each round so that a new
    grant is polled, and those the mirror holds from it: one the key may no longer read
    still screens in the mirror, so its poll fails, saying so, rather than stop unseen."""
    return list(dict.fromkeys([*subscribed_feeds(url, key), *mirror.feeds_from(url)]))


def _poll_round(
    url: str, key: str, feeds: tuple[str, ...], mirror: Mirror, acknowledge: bool, as_json: bool
) -> bool:
    """Poll each feed in turn and say how it went; whether every one was polled. A feed that
    cannot be polled (the server refuses or cannot be reached, the key may no longer read
    it) holds up none of the others: a mirror's other lists stay current."""
    try:
        names = feeds or _every_feed(url, key, mirror)
    except (RemoteError, ConfigurationError) as error:
        click.echo(f"error: {shown(url)}: {shown(error.description)}", err=True)
        return False
    if not names:  # a mirror kept current with nothing screens nothing: say so
        click.echo(f"error: {shown(url)}: the key is granted no feed to poll", err=True)
        return False
    failed = False
    for name in names:
        try:
            with FeedClient(url, key, name) as client:
                result = poll(client, mirror, _progress, acknowledge=acknowledge)
        except (RemoteError, ConfigurationError, MirrorError) as error:
            click.echo(f"error: {shown(name)}: {shown(error.description)}", err=True)
            failed = True
            continue
        if as_json:
            click.echo(json.dumps(asdict(result)))
        else:
            click.echo(
                f"{shown(result.feed)}: {counted(result.objects, 'object')} in "
                f"{counted(result.pages, 'page')}, "
                f"{counted(result.indicators, 'indicator')} applied, "
                f"{result.left} left the active set, {result.ignored} ignored"
            )
    return not failed


@main.command("poll")
@url_option
@key_option
@click.option(
    "--feed",
    "feeds",
    multiple=True,
    help="A feed id or alias (repeatable); by default every feed the key is granted.",
)
@mirror_option
@click.option("--follow", is_flag=True, help="Keep polling, every --interval seconds.")
@click.option("--interval", type=click.FloatRange(min=1), default=60.0, show_default=True)
@click.option("--jitter", type=click.FloatRange(0, 1), default=0.1, show_default=True)
@click.option(
    "--ack/--no-ack", default=True, show_default=True, help="Acknowledge each applied page."
)
@json_option
@reports_errors
def poll_command(
    url: str,
    key: str,
    feeds: tuple[str, ...],
    mirror_path: Path,
    follow: bool,
    interval: float,
    jitter: float,
    ack: bool,
    as_json: bool,
) -> None:
    """Fetch what is new in each feed into the local mirror (as an exchange): each --feed, or
    every feed the key is granted and every feed the mirror holds from the server.

    Each page is applied together with the cursor after it, so an interrupted poll resumes
    where it stopped, and then acknowledged to the server (unless --no-ack). A feed that
    cannot be polled is reported and the others are polled still (exit status 1). With
    --follow, its errors are retried with backoff (a server's Retry-After is honoured) and
    polling goes on."""
    failures = 0
    with Mirror(mirror_path) as mirror:
        while True:
            if _poll_round(url, key, feeds, mirror, ack, as_json):
                failures = 0
            elif not follow:
                sys.exit(1)
            else:  # sooner than the interval, backing off towards it
                failures += 1
                time.sleep(min(interval, 2.0**failures))
                continue
            if not follow:
                return
            time.sleep(interval * random.uniform(1 - jitter, 1 + jitter))  # noqa: S311


@main.command("lookup")
@click.argument("addresses", nargs=-1, required=True)
@click.option("--chain", help="Ticker, chain or CAIP-2 id; by default every chain that fits.")
@url_option
@key_option
@json_option
@reports_errors
def lookup_command(
    addresses: tuple[str, ...], chain: str | None, url: str, key: str, as_json: bool
) -> None:
    """Ask the server whether each ADDRESS is flagged in a feed the key may read, and by which
    indicators: `feed check` for an exchange that keeps no mirror.

    Exit status: 0 no hit, 3 at least one hit, 1 an address that is no address."""
    results = lookup(url, key, [(address, chain) for address in addresses])
    if as_json:
        click.echo(json.dumps(results, indent=2))
    for result in [] if as_json else results:
        address = shown(clipped(result["address"], LONGEST_SHOWN))
        if "invalid" in result:
            click.echo(f"{address}\tinvalid\t{shown(result['invalid'])}")
        for match in result.get("matches", ()):  # the server's words: shown escaped
            fields = [match.get(name) for name in ("collection_title", "watchdog_name", "category")]
            said = "\t".join(shown(str(field or "?")) for field in fields)
            indicator = shown(f"{match.get('indicator')}@{match.get('version')}")
            click.echo(
                f"{address}\tHIT\t{said}\tconfidence {shown(str(match.get('confidence')))}\t"
                f"{indicator}"
            )
        if result.get("matches") == []:
            click.echo(f"{address}\tno hit")
    if any(result.get("flagged") for result in results):
        sys.exit(HIT)
    if any("invalid" in result for result in results):
        sys.exit(1)


def _moment(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise click.BadParameter(f"{value!r} needs a time zone, e.g. Z")
    return moment


@main.command("report-hit")
@click.argument("indicator_id")
@url_option
@key_option
@click.option("--feed", "feed_name", help="The feed of the indicator; default: from the mirror.")
@mirror_option
@click.option("--count", type=click.IntRange(1, 999_999_999), default=1, show_default=True)
@click.option("--first-seen", help="ISO 8601 time of the first sighting; default now.")
@click.option("--last-seen", help="ISO 8601 time of the last sighting; default first-seen.")
@json_option
@reports_errors
def report_hit(
    indicator_id: str,
    url: str,
    key: str,
    feed_name: str | None,
    mirror_path: Path,
    count: int,
    first_seen: str | None,
    last_seen: str | None,
    as_json: bool,
) -> None:
    """Tell the watchdog that INDICATOR_ID's address was seen in your traffic: a STIX sighting
    in the feed's reports collection, which only the feed's owner reads."""
    checked_indicator_id(indicator_id)  # before the mirror, which would only not hold it
    if feed_name is None:
        with Mirror(mirror_path, create=False) as mirror:
            feed_name = mirror.feed_of(indicator_id)
    first = _moment(first_seen)
    last = _moment(last_seen) if last_seen else first
    with FeedClient(url, key, feed_name) as client:
        sighting = client.report_hit(indicator_id, count=count, first_seen=first, last_seen=last)
    if as_json:
        click.echo(json.dumps(sighting, indent=2))
    else:
        click.echo(f"reported {sighting['id']} of {indicator_id} ({count} seen)")

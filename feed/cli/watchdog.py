"""The watchdog's commands: `feed publish`, `feed import-ofac`, `feed acks`, `feed hits`, and
`feed chains`."""

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from feed import ofac, publisher, publisher_rows
from feed.chains import CHAINS, TICKERS
from feed.cli.base import (
    age,
    feed_option,
    json_option,
    key_option,
    main,
    reports_errors,
    shown,
    url_option,
)
from feed.client import FeedClient
from feed.errors import counted
from feed.hits import reported_hits
from feed.publisher import Summary
from feed.publisher_rows import NumberedRow
from feed.taxii import format_timestamp, parse_timestamp


@main.command()
@json_option
def chains(as_json: bool) -> None:
    """List the chains whose addresses are validated, with their CAIP-2 ids and tickers."""
    rows = [
        {
            "key": chain.key,
            "name": chain.name,
            "caip2": chain.caip2,
            "tickers": sorted(t.upper() for t, keys in TICKERS.items() if chain.key in keys),
        }
        for chain in CHAINS
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    for row in [] if as_json else rows:
        tickers = ", ".join(row["tickers"])
        click.echo(f"{row['key']:<22}{row['caip2']:<48}{tickers}")


def _publish(
    client: FeedClient,
    rows: Iterable[NumberedRow],
    *,
    dry_run: bool,
    replace_source: str | None,
    max_revoked: int | None,
    places: Mapping[int, str] | None = None,
) -> Summary:
    prepared = publisher.prepare(client, rows, replace_source, places, max_revoked)
    if dry_run:
        return publisher.summarise(client, prepared, posted=False)
    with click.progressbar(length=len(prepared.to_post), label="posting", file=sys.stderr) as bar:
        return publisher.send(client, prepared, bar.update)


def _report(summary: Summary, as_json: bool, refiled: Sequence[ofac.Refiled] = ()) -> None:
    """Print the summary; exit status 3 when some rows were rejected (the rest are posted)."""
    if as_json:
        moved = [listing._asdict() for listing in refiled]
        click.echo(json.dumps(summary.as_dict() | ({"refiled": moved} if moved else {}), indent=2))
    else:
        counts = ", ".join(f"{count:,} {name}" for name, count in summary.counts.items())
        unposted = "" if summary.unposted is None else " (a dry run: nothing was posted)"
        click.echo(f"{summary.feed}: {counts}, {len(summary.rejected):,} rejected{unposted}")
        for listing in refiled:
            click.echo(
                f"  {listing.where}: {shown(listing.address)}: taken as {listing.chain}, the "
                "one chain it is an address of"
            )
        for planned in summary.unposted or ():
            if planned.kind == "revoked":  # what a dry run is most often for
                click.echo(f"  {planned.place}: {shown(planned.address)}: would be revoked")
        if summary.withheld:
            click.echo(
                f"  {counted(summary.withheld, 'indicator')} the list no longer names stayed "
                "live: a rejected row's address could not be read, and it may be one of them; "
                "fix the rows and publish again"
            )
        for rejection in summary.rejected:
            click.echo(
                f"  {rejection.place}: {shown(rejection.address)}: {shown(rejection.reason)}"
            )
    if summary.rejected:
        sys.exit(3)


def _column_values(
    _: click.Context, __: click.Parameter, given: tuple[str, ...]
) -> list[tuple[str, str]]:
    """COLUMN=VALUE options as (column, value) pairs."""
    pairs = [value.partition("=") for value in given]
    malformed = [value for value, (_, equals, _) in zip(given, pairs, strict=True) if not equals]
    if malformed:
        raise click.BadParameter(f"{malformed[0]!r} is not COLUMN=VALUE")
    return [(column, value) for column, _, value in pairs]


dry_run_option = click.option(
    "--dry-run",
    is_flag=True,
    help="Say what would be published and revoked, and what rejected; post nothing.",
)
max_revoked_option = click.option(
    "--max-revoked",
    type=click.IntRange(min=0),
    help="Revoke at most this many of the list's indicators; by default a tenth of them (at "
    "least 10), so that a list that came out short is refused, not published.",
)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@url_option
@key_option
@feed_option
@click.option(
    "--replace-source",
    metavar="SOURCE",
    help="FILE is the whole SOURCE list: revoke its indicators that FILE no longer names.",
)
@click.option(
    "--default",
    "defaults",
    metavar="COLUMN=VALUE",
    multiple=True,
    callback=_column_values,
    help="VALUE for rows that leave COLUMN empty, e.g. category=ransomware (repeatable).",
)
@click.option(
    "--ignore-column",
    "ignored",
    metavar="COLUMN",
    multiple=True,
    help="A column of FILE that is not for publishing: leave it out (repeatable).",
)
@max_revoked_option
@dry_run_option
@json_option
@reports_errors
def publish(
    file: Path,
    url: str,
    key: str,
    feed_name: str,
    replace_source: str | None,
    defaults: list[tuple[str, str]],
    ignored: tuple[str, ...],
    max_revoked: int | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Publish flagged addresses from a CSV or JSON Lines FILE (as a watchdog).

    Columns: address, and optionally chain, category, confidence, valid_until, description,
    reference, tlp, action (flag or revoke), asset, source. A file of bare addresses, one a
    line, is read as the address column. Publishing the same file again changes nothing.
    Exit status 3: some rows were rejected, the others were published."""
    if max_revoked is not None and replace_source is None:
        raise click.UsageError("--max-revoked limits what --replace-source revokes; give both")
    # A file, a default or a column it cannot take is refused before connecting.
    rows = publisher_rows.read_rows(file, ignored=ignored, defaults=defaults)
    with FeedClient(url, key, feed_name) as client:
        summary = _publish(
            client, rows, dry_run=dry_run, replace_source=replace_source, max_revoked=max_revoked
        )
    _report(summary, as_json)


@main.command("import-ofac")
@click.argument("sdn_xml", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@url_option
@key_option
@feed_option
@max_revoked_option
@dry_run_option
@json_option
@reports_errors
def import_ofac(
    sdn_xml: Path,
    url: str,
    key: str,
    feed_name: str,
    max_revoked: int | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Publish the digital-currency addresses of the OFAC SDN list (advanced XML, or .bz2).

    SDN_XML is the whole list: addresses a newer list no longer names are revoked. An entry
    that is no address of its ticker but of one other chain is published there, and listed;
    other entries that are not valid addresses are listed with the reason (exit status 3)."""
    converted = ofac.to_rows(ofac.read_listings(sdn_xml))
    with FeedClient(url, key, feed_name) as client:
        summary = _publish(
            client, converted.rows, dry_run=dry_run, replace_source=ofac.SOURCE,
            max_revoked=max_revoked, places=converted.places,
        )  # fmt: skip
    rejected = converted.rejected + summary.rejected
    _report(replace(summary, rejected=rejected), as_json, converted.refiled)


@main.command()
@click.argument("feed_name", metavar="FEED")
@url_option
@key_option
@click.option("--object", "object_id", help="One object: who received and acknowledged it.")
@json_option
@reports_errors
def acks(feed_name: str, url: str, key: str, object_id: str | None, as_json: bool) -> None:
    """Show who has received and acknowledged FEED: each subscriber's last poll, how far it
    has acknowledged, how many objects are pending and for how long."""
    with FeedClient(url, key, feed_name) as client:
        state = client.acknowledgements(object_id)
    if as_json:
        click.echo(json.dumps(state, indent=2))
    elif object_id:
        for subscriber in state["subscribers"]:
            name = _subscriber_name(subscriber)
            for version in subscriber["versions"]:
                said = version.get("outcome", "")
                if version.get("reason"):
                    said += f" ({version['reason']})"
                click.echo(
                    f"{name}\t{version['version']}\t"
                    f"received={'yes' if version['received'] else 'no'}\t"
                    f"acknowledged={'yes' if version['acknowledged'] else 'no'}\t{shown(said)}"
                )
    else:
        click.echo("subscriber\tlast poll\tacknowledged through\tpending\toldest pending\trejected")
        for s in state["subscribers"]:
            click.echo(
                f"{_subscriber_name(s)}\t{s.get('last_poll', 'never')}\t"
                f"{s.get('acknowledged_through', '-')}\t{s['pending']}\t"
                f"{age(s.get('oldest_pending_age_seconds'))}\t{s['rejected']}"
            )


def _subscriber_name(subscriber: dict[str, Any]) -> str:
    withdrawn = "" if subscriber.get("subscribed", True) else " (withdrawn)"
    return shown(subscriber["organisation"]) + withdrawn


@main.command()
@click.argument("feed_name", metavar="FEED")
@url_option
@key_option
@click.option("--since", help="Only hits reported after this time (ISO 8601, UTC).")
@json_option
@reports_errors
def hits(feed_name: str, url: str, key: str, since: str | None, as_json: bool) -> None:
    """Show the hits exchanges reported on FEED (as its watchdog): which exchange saw which
    flagged address, how many times, first and last seen; oldest report first."""
    added_after = format_timestamp(parse_timestamp(since, field="--since")) if since else None
    with FeedClient(url, key, feed_name) as client:
        found = reported_hits(client, added_after)
    if as_json:
        click.echo(json.dumps([hit.as_dict() for hit in found], indent=2))
        return
    click.echo("exchange\taddress\tcategory\tcount\tfirst seen\tlast seen\tindicator")
    for hit in found:
        click.echo(
            "\t".join(
                shown(str(value) if value is not None else "-")
                for value in (
                    hit.exchange, hit.address, hit.category, hit.count, hit.first_seen,
                    hit.last_seen, hit.indicator_id,
                )
            )
        )  # fmt: skip

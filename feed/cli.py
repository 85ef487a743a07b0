"""The `feed` command. An edge: it wires settings, the store and the server together."""

import copy
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
from sqlmodel import Session

from feed import accounts, ofac, publisher
from feed.addresses import CHAINS, TICKERS
from feed.client import FeedClient
from feed.config import Settings
from feed.errors import FeedError
from feed.publisher import NumberedRow, Summary
from feed.store import Store, create_engine_for, migrate
from feed.tables import Role

P = ParamSpec("P")
R = TypeVar("R")


def _reports_errors(command: Callable[P, R]) -> Callable[P, R]:
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
def _writing() -> Iterator[Session]:
    """A write transaction on the configured database, migrated first."""
    engine = create_engine_for(Settings())
    try:
        migrate(engine)
        with Store(engine).writing() as session:
            yield session
    finally:
        engine.dispose()


def _emit(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        for name, value in data.items():
            click.echo(f"{name}: {value}")


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group()
def main() -> None:
    """Flagged cryptocurrency addresses over TAXII 2.1 (settings: FEED_* environment)."""


@main.command()
@click.option("--host", help="Address to listen on [FEED_HOST, default 127.0.0.1].")
@click.option("--port", type=int, help="Port [FEED_PORT, default 8000].")
@click.option("--workers", type=int, help="Worker processes [FEED_WORKERS, default 1].")
@_reports_errors
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
@_reports_errors
def upgrade() -> None:
    """Create or upgrade the schema to the newest revision."""
    engine = create_engine_for(Settings())
    try:
        migrate(engine)
    finally:
        engine.dispose()
    click.echo("database is at the newest revision")


@main.group()
def admin() -> None:
    """Organisations, API keys, feeds and grants (run on the server's database)."""


@admin.group()
def org() -> None:
    """Organisations."""


@org.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@json_option
@_reports_errors
def org_create(name: str, role: str, as_json: bool) -> None:
    """Create an organisation and its STIX identity."""
    with _writing() as session:
        organisation = accounts.create_organisation(session, name, Role(role))
        data = {"id": organisation.id, "name": name, "role": role}
        data["identity"] = organisation.identity_id
    _emit(data, as_json)


@org.command("list")
@json_option
@_reports_errors
def org_list(as_json: bool) -> None:
    """List organisations."""
    with _writing() as session:
        rows = [
            {"id": o.id, "name": o.name, "role": str(o.role), "identity": o.identity_id}
            for o in accounts.list_organisations(session)
        ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    for row in [] if as_json else rows:
        click.echo(f"{row['name']}\t{row['role']}\t{row['id']}")


@admin.group()
def key() -> None:
    """API keys."""


@key.command("create")
@click.argument("organisation")
@json_option
@_reports_errors
def key_create(organisation: str, as_json: bool) -> None:
    """Issue an API key; the secret is shown only now."""
    with _writing() as session:
        issued = accounts.create_key(session, accounts.find_organisation(session, organisation))
    _emit(
        {"key_id": issued.key_id, "secret": issued.secret, "bearer": issued.bearer},
        as_json,
    )


@key.command("revoke")
@click.argument("key_id")
@_reports_errors
def key_revoke(key_id: str) -> None:
    """Revoke an API key; it stops working on the next request."""
    with _writing() as session:
        accounts.revoke_key(session, key_id)
    click.echo(f"revoked {key_id}")


@admin.group(name="feed")
def feed_group() -> None:
    """Feeds (a watchdog's collection plus its reports collection)."""


@feed_group.command("create")
@click.argument("owner")
@click.option("--title", required=True)
@click.option("--alias", help="A short name usable instead of the id.")
@click.option("--description")
@json_option
@_reports_errors
def feed_create(
    owner: str, title: str, alias: str | None, description: str | None, as_json: bool
) -> None:
    """Create a feed owned by a watchdog."""
    with _writing() as session:
        feed, reports = accounts.create_feed(
            session,
            accounts.find_organisation(session, owner),
            title,
            alias=alias,
            description=description,
        )
        data = {"feed": feed.id, "reports": reports.id, "alias": alias}
    _emit(data, as_json)


@admin.command()
@click.argument("feed")
@click.argument("exchange")
@_reports_errors
def grant(feed: str, exchange: str) -> None:
    """Let EXCHANGE read FEED (id or alias) and report sightings to it."""
    with _writing() as session:
        target = accounts.find_feed(session, feed)
        accounts.grant_feed(session, target, accounts.find_organisation(session, exchange))
    click.echo(f"{exchange} may read {feed}")


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


def _publish(
    client: FeedClient, rows: Iterable[NumberedRow], replace_source: str | None
) -> Summary:
    prepared = publisher.prepare(client, rows, replace_source)
    with click.progressbar(length=len(prepared.to_post), label="posting", file=sys.stderr) as bar:
        return publisher.send(client, prepared, bar.update)


def _report(summary: Summary, as_json: bool) -> None:
    """Print the summary; exit status 3 when some rows were rejected (the rest are posted)."""
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        counts = ", ".join(f"{count} {name}" for name, count in summary.counts.items())
        click.echo(f"{summary.feed}: {counts}, {len(summary.rejected)} rejected")
        for rejection in summary.rejected:
            click.echo(f"  {rejection.place}: {rejection.address}: {rejection.reason}")
    if summary.rejected:
        sys.exit(3)


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
@json_option
@_reports_errors
def publish(
    file: Path, url: str, key: str, feed_name: str, replace_source: str | None, as_json: bool
) -> None:
    """Publish flagged addresses from a CSV or JSON Lines FILE (as a watchdog).

    Columns: address, and optionally chain, category, confidence, valid_until, description,
    reference, tlp, action (flag or revoke), asset, source. Publishing the same file again
    changes nothing. Exit status 3: some rows were rejected, the others were published."""
    with FeedClient(url, key, feed_name) as client:
        summary = _publish(client, publisher.read_rows(file), replace_source)
    _report(summary, as_json)


@main.command("import-ofac")
@click.argument("sdn_xml", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@url_option
@key_option
@feed_option
@json_option
@_reports_errors
def import_ofac(sdn_xml: Path, url: str, key: str, feed_name: str, as_json: bool) -> None:
    """Publish the digital-currency addresses of the OFAC SDN list (advanced XML, or .bz2).

    SDN_XML is the whole list: addresses a newer list no longer names are revoked. Entries
    that are not valid addresses of their ticker are listed with the reason (exit status 3)."""
    rows, invalid = ofac.to_rows(ofac.read_listings(sdn_xml))
    with FeedClient(url, key, feed_name) as client:
        summary = _publish(client, rows, ofac.SOURCE)
    _report(Summary(summary.feed, summary.counts, invalid + summary.rejected), as_json)


if __name__ == "__main__":
    main()

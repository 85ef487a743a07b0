"""`feed admin`: organisations, API keys, feeds and grants, on the server's database."""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from sqlmodel import Session

from feed import accounts, audit
from feed.audit import Action
from feed.cli.base import emit, json_option, main, reports_errors
from feed.config import Settings
from feed.database import create_engine_for, migrate
from feed.store import Store
from feed.tables import Collection, Organisation, Role
from feed.taxii import format_timestamp, parse_timestamp


@contextmanager
def writing() -> Iterator[Session]:
    """A write transaction on the configured database, migrated first."""
    engine = create_engine_for(Settings.from_environment())
    try:
        migrate(engine)
        with Store(engine).writing() as session:
            yield session
    finally:
        engine.dispose()


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
@reports_errors
def org_create(name: str, role: str, as_json: bool) -> None:
    """Create an organisation and its STIX identity."""
    with writing() as session:
        organisation = accounts.create_organisation(session, name, Role(role))
        data = {"id": organisation.id, "name": name, "role": role}
        data["identity"] = organisation.identity_id
    emit(data, as_json)


@org.command("list")
@json_option
@reports_errors
def org_list(as_json: bool) -> None:
    """List organisations."""
    with writing() as session:
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
@reports_errors
def key_create(organisation: str, as_json: bool) -> None:
    """Issue an API key; the secret is shown only now."""
    with writing() as session:
        issued = accounts.create_key(session, accounts.find_organisation(session, organisation))
    emit(
        {"key_id": issued.key_id, "secret": issued.secret, "bearer": issued.bearer},
        as_json,
    )


@key.command("revoke")
@click.argument("key_id")
@reports_errors
def key_revoke(key_id: str) -> None:
    """Revoke an API key; it stops working on the next request."""
    with writing() as session:
        accounts.revoke_key(session, key_id)
    click.echo(f"revoked {key_id}")


@key.command("list")
@click.argument("organisation")
@json_option
@reports_errors
def key_list(organisation: str, as_json: bool) -> None:
    """List an organisation's API keys (never their secrets), the newest first."""
    with writing() as session:
        keys = accounts.list_keys(session, accounts.find_organisation(session, organisation))
        rows = [
            {
                "key_id": k.id,
                "created": format_timestamp(k.created_at),
                "revoked": None if k.revoked_at is None else format_timestamp(k.revoked_at),
            }
            for k in keys
        ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    for row in [] if as_json else rows:
        state = "active" if row["revoked"] is None else f"revoked {row['revoked']}"
        click.echo(f"{row['key_id']}\tcreated {row['created']}\t{state}")


@admin.group(name="feed")
def feed_group() -> None:
    """Feeds (a watchdog's collection plus its reports collection)."""


@feed_group.command("create")
@click.argument("owner")
@click.option("--title", required=True)
@click.option("--alias", help="A short name usable instead of the id.")
@click.option("--description")
@json_option
@reports_errors
def feed_create(
    owner: str, title: str, alias: str | None, description: str | None, as_json: bool
) -> None:
    """Create a feed owned by a watchdog."""
    with writing() as session:
        feed, reports = accounts.create_feed(
            session,
            accounts.find_organisation(session, owner),
            title,
            alias=alias,
            description=description,
        )
        data = {
            "feed": feed.id,
            "alias": alias,
            "reports": reports.id,
            "reports_alias": reports.alias,
        }
    emit(data, as_json)


@feed_group.command("list")
@json_option
@reports_errors
def feed_list(as_json: bool) -> None:
    """List feeds: owner, alias, title and the exchanges that may read each."""
    with writing() as session:
        listed = accounts.list_feeds(session)
    if as_json:
        rows = [
            {"feed": f.id, "alias": f.alias, "title": f.title, "owner": owner, "exchanges": readers}
            for f, owner, readers in listed
        ]
        click.echo(json.dumps(rows, indent=2))
    for f, owner, readers in [] if as_json else listed:
        granted = ", ".join(readers) or "no exchange"
        click.echo(f"{owner}\t{f.alias or f.id}\t{f.title}\t{granted}")


def _change_access(
    feed: str, exchange: str, change: Callable[[Session, Collection, Organisation], None]
) -> None:
    """Apply `change` (a grant or its withdrawal) to FEED (id or alias) and EXCHANGE."""
    with writing() as session:
        target = accounts.find_feed(session, feed)
        change(session, target, accounts.find_organisation(session, exchange))


@admin.command()
@click.argument("feed")
@click.argument("exchange")
@reports_errors
def grant(feed: str, exchange: str) -> None:
    """Let EXCHANGE read FEED (id or alias) and report sightings to it."""
    _change_access(feed, exchange, accounts.grant_feed)
    click.echo(f"{exchange} may read {feed}")


@admin.command()
@click.argument("feed")
@click.argument("exchange")
@reports_errors
def withdraw(feed: str, exchange: str) -> None:
    """Stop EXCHANGE reading FEED and reporting to it, from its next request."""
    _change_access(feed, exchange, accounts.withdraw_feed)
    click.echo(f"{exchange} may no longer read {feed}")


@admin.command("audit")
@click.option("--organisation", help="Only what this organisation did.")
@click.option("--feed", "feed_name", help="Only this feed (id or alias) and its reports.")
@click.option("--action", type=click.Choice([a.value for a in Action]))
@click.option("--since", help="Only events at or after this time (ISO 8601, UTC).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@json_option
@reports_errors
def audit_log(
    organisation: str | None,
    feed_name: str | None,
    action: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Who published, revoked, deleted, reported, acknowledged and read what, newest first."""
    with writing() as session:
        entries = audit.query(
            session,
            organisation_id=accounts.find_organisation(session, organisation).id
            if organisation
            else None,
            feed_id=accounts.find_feed(session, feed_name).id if feed_name else None,
            action=action,
            since=parse_timestamp(since, field="--since") if since else None,
            limit=limit,
        )
    if as_json:
        click.echo(json.dumps([vars(entry) for entry in entries], indent=2))
    for entry in [] if as_json else entries:
        click.echo(
            f"{entry.at}\t{entry.organisation}\t{entry.action}\t{entry.collection_shown}\t"
            f"{entry.count}\t{entry.detail}"
        )

"""Organisations and feeds are named as both databases can store and every reader can show:
a name PostgreSQL would refuse, or that would break a log line or a table, is refused with
what was wrong, on SQLite as on PostgreSQL."""

import json

import pytest
from click.testing import CliRunner

from feed import accounts
from feed.cli import main
from feed.config import Settings
from feed.errors import BadRequest
from feed.store import Store
from feed.tables import Role


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("W" * 201, "201 characters long; at most 200"),
        ("Hotline\nOperator", "must be printable text"),
        ("\x1b[2KHotline", "must be printable text"),
        ("   ", "not blank"),
    ],
)
def test_an_organisation_name_that_cannot_be_stored_or_shown_is_refused(
    store: Store, name: str, fragment: str
) -> None:
    with pytest.raises(BadRequest, match=fragment), store.writing() as session:
        accounts.create_organisation(session, name, Role.WATCHDOG)


@pytest.mark.parametrize(
    ("title", "alias", "fragment"),
    [
        ("T" * 191, None, "a feed title is 191 characters long; at most 190"),
        ("Alerts", "a" * 93, "a feed alias is 93 characters long; at most 92"),
        ("Alerts", "hot line\t", "must be printable text"),
    ],
)
def test_a_feed_whose_reports_collection_could_not_be_named_is_refused(
    store: Store, title: str, alias: str | None, fragment: str
) -> None:
    with store.writing() as session:
        owner = accounts.create_organisation(session, "Hotline", Role.WATCHDOG)
    with pytest.raises(BadRequest, match=fragment), store.writing() as session:
        accounts.create_feed(session, owner, title, alias=alias)


def test_the_longest_names_fit_both_collections(store: Store) -> None:
    with store.writing() as session:
        owner = accounts.create_organisation(session, "W" * 200, Role.WATCHDOG)
        feed, reports = accounts.create_feed(session, owner, "T" * 190, alias="a" * 92)
    assert (len(reports.title), len(reports.alias or "")) == (200, 100)
    assert feed.title == "T" * 190


def test_feeds_are_owned_by_watchdogs_and_granted_to_exchanges(store: Store) -> None:
    with store.writing() as session:
        watchdog = accounts.create_organisation(session, "Hotline", Role.WATCHDOG)
        exchange = accounts.create_organisation(session, "Exchange A", Role.EXCHANGE)
        admin = accounts.create_organisation(session, "Operator", Role.ADMIN)
        feed, _ = accounts.create_feed(session, watchdog, "Alerts")
    owning = "Exchange A is an exchange; only a watchdog owns feeds"
    with pytest.raises(BadRequest, match=owning), store.writing() as session:
        accounts.create_feed(session, exchange, "Alerts of an exchange")
    granted = "Operator is an admin; feeds are granted to exchanges"
    with pytest.raises(BadRequest, match=granted), store.writing() as session:
        accounts.grant_feed(session, feed, admin)


def test_every_reports_collection_has_an_alias_no_other_collection_has(store: Store) -> None:
    with store.writing() as session:
        owner = accounts.create_organisation(session, "Hotline", Role.WATCHDOG)
        plain, plain_reports = accounts.create_feed(session, owner, "Alerts")
        accounts.create_feed(session, owner, "Alerts", alias="zz-reports")
    assert plain_reports.alias == f"{plain.id}-reports"  # titles may repeat; aliases do not
    taken = "alias 'zz-reports' already exists: the feed's reports collection would take it"
    with pytest.raises(BadRequest, match=taken), store.writing() as session:
        accounts.create_feed(session, owner, "Other alerts", alias="zz")


def test_feed_create_prints_both_collections_and_their_aliases(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEED_DATABASE_URL", settings.database_url)
    runner = CliRunner()
    created = runner.invoke(main, ["admin", "org", "create", "Hotline", "--role", "watchdog"])
    assert created.exit_code == 0, created.output
    plain = runner.invoke(main, ["admin", "feed", "create", "Hotline", "--title", "Alerts"])
    lines = dict(line.split(": ", 1) for line in plain.output.splitlines())
    assert list(lines) == ["feed", "reports", "reports_alias"]  # no "alias: None"
    assert lines["reports_alias"] == f"{lines['feed']}-reports"
    named = runner.invoke(main, ["admin", "feed", "create", "Hotline", "--title", "Alerts",
                                 "--alias", "hotline", "--json"])  # fmt: skip
    assert json.loads(named.output)["reports_alias"] == "hotline-reports"

"""Organisations and feeds are named as both databases can store and every reader can show:
a name PostgreSQL would refuse, or that would break a log line or a table, is refused with
what was wrong, on SQLite as on PostgreSQL. Feeds are granted and withdrawn, and keys listed,
as an operator does it."""

import json

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from feed import accounts
from feed.cli import main
from feed.config import Settings
from feed.errors import BadRequest
from feed.store import Store
from feed.tables import Role
from feed.taxii import TAXII_MEDIA_TYPE
from tests.conftest import Member, World

POST = {"Content-Type": TAXII_MEDIA_TYPE}


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


def test_a_withdrawn_exchange_can_no_longer_read_or_report_until_granted_again(
    client: TestClient, world: World, second_exchange: Member, settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("FEED_DATABASE_URL", settings.database_url)
    runner = CliRunner()
    objects = f"/api/collections/{world.feed}/objects/"
    reports = f"/api/collections/{world.reports}/objects/"
    sighting = {"objects": [{"type": "identity", "id": world.exchange.identity}]}

    def access() -> tuple[int, int, int]:
        """What Exchange A is answered reading the feed and writing reports, and how many
        collections it is shown."""
        read = client.get(objects, headers=world.exchange.headers)
        post = client.post(reports, json=sighting, headers={**world.exchange.headers, **POST})
        shown = client.get("/api/collections/", headers=world.exchange.headers)
        return read.status_code, post.status_code, len(shown.json().get("collections", []))

    def listed() -> list[tuple[str, str, str, str]]:
        shown = runner.invoke(main, ["admin", "feed", "list"])
        assert shown.exit_code == 0, shown.output
        return [tuple(line.split("\t")) for line in shown.output.splitlines()]  # type: ignore[misc]

    assert access() == (200, 202, 2)
    assert ("Hotline", "hotline", "Hotline alerts", "Exchange A, Exchange B") in listed()
    withdrawn = runner.invoke(main, ["admin", "withdraw", "hotline", "Exchange A"])
    assert (withdrawn.exit_code, withdrawn.output) == (0, "Exchange A may no longer read hotline\n")
    assert access() == (404, 404, 0)  # from its next request, with no restart
    assert ("Hotline", "hotline", "Hotline alerts", "Exchange B") in listed()
    as_json = json.loads(runner.invoke(main, ["admin", "feed", "list", "--json"]).output)
    assert {row["alias"]: row["exchanges"] for row in as_json} == {
        "hotline": ["Exchange B"],
        None: [],
    }

    again = runner.invoke(main, ["admin", "withdraw", "hotline", "Exchange A"])
    assert again.exit_code == 1
    assert "Exchange A has no grant of hotline" in again.output
    owner = runner.invoke(main, ["admin", "withdraw", "hotline", "Hotline"])
    assert "Hotline is a watchdog; feeds are granted to exchanges" in owner.output

    assert runner.invoke(main, ["admin", "grant", "hotline", "Exchange A"]).exit_code == 0
    assert access() == (200, 202, 2)
    audited = runner.invoke(main, ["admin", "audit", "--organisation", "Exchange A", "--json"])
    changes = [(e["action"], e["collection_alias"]) for e in json.loads(audited.output)]
    assert [c for c in changes if c[0] in ("granted", "withdrawn")] == [
        ("granted", "hotline"),  # newest first
        ("withdrawn", "hotline"),
        ("granted", "hotline"),  # by the world
    ]


def test_an_organisation_s_keys_are_listed_without_their_secrets(
    world: World, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEED_DATABASE_URL", settings.database_url)
    runner = CliRunner()
    issued = json.loads(
        runner.invoke(main, ["admin", "key", "create", "Exchange A", "--json"]).output
    )
    assert runner.invoke(main, ["admin", "key", "revoke", world.exchange.key_id]).exit_code == 0
    shown = runner.invoke(main, ["admin", "key", "list", "Exchange A"])
    assert shown.exit_code == 0, shown.output
    lines = [line.split("\t") for line in shown.output.splitlines()]
    assert [(line[0], line[2].split()[0]) for line in lines] == [
        (issued["key_id"], "active"),
        (world.exchange.key_id, "revoked"),
    ]
    assert issued["secret"] not in shown.output
    keys = json.loads(runner.invoke(main, ["admin", "key", "list", "Exchange A", "--json"]).output)
    assert [sorted(key) for key in keys] == [["created", "key_id", "revoked"]] * 2
    assert keys[1]["revoked"] is not None
    audited = runner.invoke(main, ["admin", "audit", "--organisation", "Exchange A", "--json"])
    assert [(e["action"], e["detail"]) for e in json.loads(audited.output)][:3] == [
        ("key-revoked", world.exchange.key_id),
        ("key-issued", issued["key_id"]),
        ("granted", ""),  # the world's grant, after its key
    ]

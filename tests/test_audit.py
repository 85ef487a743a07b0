"""The audit log records who published, revoked, reported, acknowledged, read and deleted
what, in the transactions that did it, and an operator can query it."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from feed import accounts, audit
from feed.addresses import parse_address
from feed.cli import main
from feed.config import Settings
from feed.indicators import Flag, build_indicator, revoke_indicator
from feed.stix import Category, build_sighting
from feed.store import Store
from feed.taxii import TAXII_MEDIA_TYPE, now_micros
from tests.conftest import World

POST = {"Content-Type": TAXII_MEDIA_TYPE}


def test_every_kind_of_event_is_recorded(
    client: TestClient, store: Store, world: World, settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    started = now_micros()  # after the world was made: its keys and grant are audited too
    now = datetime.now(UTC)
    flag = Flag(parse_address("1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu", "BTC"), Category.CSAM)
    first = build_indicator(flag, world.watchdog.identity, now)
    assert first is not None
    feed = f"/api/collections/{world.feed}/"
    owner = {**world.watchdog.headers, **POST}
    client.post(feed + "objects/", content=json.dumps({"objects": [first]}), headers=owner)
    page = client.get(feed + "objects/", headers=world.exchange.headers)
    client.get(feed + "objects/", headers=world.exchange.headers)  # nothing new: not recorded
    sighting = build_sighting(world.exchange.identity, first["id"], count=2, first_seen=now,
                              last_seen=now, now=now)  # fmt: skip
    client.post(
        f"/api/collections/{world.reports}/objects/",
        content=json.dumps({"objects": [sighting]}),
        headers={**world.exchange.headers, **POST},
    )
    through = page.headers["X-TAXII-Date-Added-Last"]
    client.post(
        feed + "acknowledgements/",
        content=json.dumps({"through": through}),
        headers={**world.exchange.headers, **POST},
    )
    revoked = revoke_indicator(first, now + timedelta(seconds=1))
    client.post(feed + "objects/", content=json.dumps({"objects": [revoked]}), headers=owner)
    deleted = client.delete(f"{feed}objects/{first['id']}/", headers=world.watchdog.headers)
    assert deleted.status_code == 200

    with store.reading() as session:
        entries = audit.query(session, since=started)
    trail = [(e.organisation, e.action, e.collection, e.count) for e in reversed(entries)]
    assert trail == [
        ("Hotline", "publish", world.feed, 1),
        ("Exchange A", "read", world.feed, len(world.feed_seed) + 1),
        ("Exchange A", "report", world.reports, 1),
        ("Exchange A", "acknowledge", world.feed, 0),
        ("Hotline", "revoke", world.feed, 1),
        ("Hotline", "delete", world.feed, 1),
    ]
    assert first["id"] in entries[-1].detail
    assert f"through {through}" in entries[2].detail
    assert "2 versions" in entries[0].detail

    monkeypatch.setenv("FEED_DATABASE_URL", settings.database_url)
    result = CliRunner().invoke(
        main, ["admin", "audit", "--organisation", "Exchange A", "--action", "read", "--json"]
    )
    assert result.exit_code == 0, result.output
    (read,) = json.loads(result.output)
    assert (read["organisation"], read["action"]) == ("Exchange A", "read")
    assert (read["collection"], read["collection_alias"]) == (world.feed, "hotline")
    assert "served through" in read["detail"]

    # A feed's events are its own collection's and its reports collection's, by alias.
    with store.writing() as session:
        hotline = accounts.find_organisation(session, "Hotline")
        other, _ = accounts.create_feed(session, hotline, "Other alerts")
        published = audit.event(hotline.id, audit.Action.PUBLISH, other.id, ["x"], at=now_micros())
        audit.record(session, published)
    listed = CliRunner().invoke(main, ["admin", "audit", "--feed", "hotline"])
    assert listed.exit_code == 0, listed.output
    shown = [line.split("\t")[2:4] for line in reversed(listed.output.splitlines())]
    assert shown == [
        ["granted", "hotline"],  # to Exchange A, by the world
        ["publish", "hotline"],
        ["read", "hotline"],
        ["report", "hotline-reports"],
        ["acknowledge", "hotline"],
        ["revoke", "hotline"],
        ["delete", "hotline"],
    ]
    everything = CliRunner().invoke(main, ["admin", "audit"]).output.splitlines()
    assert everything[0].split("\t")[2:4] == ["publish", other.id]  # no alias: its id

"""The watchdog's view of hits end to end against a real server: exchanges report sightings
of the feed's indicators, and the feed's owner reads each with the exchange's name and the
address flagged, the latest report of each run of sightings, and those reported since a time;
no exchange reads them."""

import csv
import json
import time
from datetime import UTC, datetime

import pytest

from feed import accounts, publisher
from feed.client import FeedClient
from feed.errors import ConfigurationError
from feed.hits import IDS_PER_REQUEST, Hit, reported_hits
from feed.stix import extension_properties
from feed.store import Store
from feed.taxii import format_timestamp, now_micros
from tests.conftest import Member, World
from tests.test_addresses import RANSOMWARE
from tests.test_mirror import BTC, ETH, feed_command, publish

FIRST_SEEN = datetime(2026, 11, 20, 10, tzinfo=UTC)


def indicators(base_url: str, world: World) -> dict[str, str]:
    """The feed's indicator ids by the address each flags."""
    with FeedClient(base_url, world.watchdog.bearer, world.feed) as client:
        found = client.objects(type="indicator")
        return {(extension_properties(v) or {})["address"]: v["id"] for v in found}


def report(base_url: str, member: Member, indicator_id: str, count: int) -> None:
    with FeedClient(base_url, member.bearer, "hotline") as client:
        client.report_hit(indicator_id, count=count, first_seen=FIRST_SEEN)
    time.sleep(0.002)  # each report a later `modified`, to the millisecond


def hits(base_url: str, world: World, added_after: str | None = None) -> list[Hit]:
    with FeedClient(base_url, world.watchdog.bearer, world.feed) as client:
        return reported_hits(client, added_after)


def test_the_owner_reads_each_hit_with_its_exchange_and_address(
    base_url: str, world: World, second_exchange: Member
) -> None:
    publish(base_url, world, {"chain": "BTC", "address": BTC, "category": "csam"},
            {"chain": "ETH", "address": ETH, "category": "ransomware"})  # fmt: skip
    flagged = indicators(base_url, world)
    report(base_url, world.exchange, flagged[BTC], 2)
    report(base_url, second_exchange, flagged[ETH], 1)
    between = format_timestamp(now_micros())
    report(base_url, world.exchange, flagged[BTC], 5)  # the same run, seen more since

    # Each run's latest report, in the order the latest reports arrived.
    found = hits(base_url, world)
    assert [(h.exchange, h.address, h.category, h.count) for h in found] == [
        ("Exchange B", ETH, "ransomware", 1),
        ("Exchange A", BTC, "csam", 5),
    ]
    exchange_b, exchange_a = found
    assert (exchange_a.identity, exchange_a.indicator_id) == (world.exchange.identity, flagged[BTC])
    assert exchange_a.chain == "bip122:000000000019d6689c085ae165831e93"
    assert exchange_a.first_seen == "2026-11-20T10:00:00.000Z"
    assert exchange_b.identity == second_exchange.identity
    assert [h.count for h in hits(base_url, world, between)] == [5]


def test_the_command_prints_the_hits_and_an_exchange_is_refused(
    base_url: str, world: World
) -> None:
    publish(base_url, world, {"chain": "ETH", "address": ETH, "category": "theft"})
    report(base_url, world.exchange, indicators(base_url, world)[ETH], 3)
    owner = ["--url", base_url, "--key", world.watchdog.bearer]

    table = feed_command("hits", "hotline", *owner, check=True).stdout.splitlines()
    assert table[0].split("\t")[:4] == ["exchange", "address", "category", "count"]
    assert table[1].split("\t")[:4] == ["Exchange A", ETH, "theft", "3"]
    (listed,) = json.loads(feed_command("hits", "hotline", *owner, "--json", check=True).stdout)
    assert (listed["exchange"], listed["count"]) == ("Exchange A", 3)
    later = feed_command("hits", "hotline", *owner, "--since", "2100-01-01T00:00:00Z", "--json")
    assert json.loads(later.stdout) == []

    refused = feed_command("hits", "hotline", "--url", base_url, "--key", world.exchange.bearer)
    assert refused.returncode == 1
    assert "only the feed's owner may" in refused.stderr
    with (
        FeedClient(base_url, world.exchange.bearer, world.feed) as client,
        pytest.raises(ConfigurationError, match="no reports collection of hotline to read"),
    ):
        reported_hits(client)


def test_hits_on_more_indicators_than_one_request_names_each_get_their_address(
    base_url: str, world: World
) -> None:
    with RANSOMWARE.open() as source:
        sample = [row["address"] for row in csv.DictReader(source)][: IDS_PER_REQUEST + 5]
    publish(base_url, world, *({"chain": "BTC", "address": a, "category": "ransomware"}
                               for a in sample))  # fmt: skip
    flagged = indicators(base_url, world)
    with FeedClient(base_url, world.exchange.bearer, "hotline") as client:
        for address in sample:
            client.report_hit(flagged[address], first_seen=FIRST_SEEN)
    found = hits(base_url, world)
    address_of = {indicator: address for address, indicator in flagged.items()}
    assert [h.address for h in found] == [address_of[h.indicator_id or ""] for h in found]
    assert sorted(h.address or "" for h in found) == sorted(sample)


def test_feeds_of_one_title_keep_their_reports_apart(
    base_url: str, world: World, store: Store
) -> None:
    # Without aliases, a feed's reports collection was found by its title, which the other
    # feed's shares: one feed's hits went to the other's reports, which refused them.
    with store.writing() as session:
        owner = accounts.find_organisation(session, world.watchdog.id)
        exchange = accounts.find_organisation(session, world.exchange.id)
        feeds = [accounts.create_feed(session, owner, "Alerts")[0] for _ in range(2)]
        for feed in feeds:
            accounts.grant_feed(session, feed, exchange)
        ids = [feed.id for feed in feeds]
    for feed_id, (chain, address) in zip(ids, (("BTC", BTC), ("ETH", ETH)), strict=True):
        with FeedClient(base_url, world.watchdog.bearer, feed_id) as client:
            row = {"address": address, "category": "scam", "chain": chain}
            publisher.send(client, publisher.prepare(client, [(1, row)]))
            (flagged,) = client.objects(type="indicator")
        with FeedClient(base_url, world.exchange.bearer, feed_id) as client:
            client.report_hit(flagged["id"], first_seen=FIRST_SEEN)
    for feed_id, address in zip(ids, (BTC, ETH), strict=True):
        with FeedClient(base_url, world.watchdog.bearer, feed_id) as client:
            assert [hit.address for hit in reported_hits(client)] == [address]

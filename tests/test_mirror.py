"""The exchange side end to end against a real server: a watchdog publishes, an exchange polls
into its mirror, screens, and reports a hit; then the feed changes and the mirror follows."""

import json
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from click.testing import CliRunner

from feed import mirror as mirror_module
from feed import publisher
from feed.addresses import parse_address
from feed.cli import main
from feed.client import FeedClient
from feed.config import Settings
from feed.errors import ConfigurationError, InvalidAddress, MirrorError
from feed.indicators import Flag, build_indicator
from feed.mirror import Mirror
from feed.polling import poll
from feed.sandbox import synthetic_address
from feed.screener import KeyScreener, Match, Screener
from feed.stix import Category, build_sighting, organisation_identity
from tests.conftest import World
from tests.serving import serving
from tests.soak import SOAK
from tests.test_addresses import RANSOMWARE
from tests.test_stix import built, flag

BTC = "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu"
ETH = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
TRON = "TAYhjpL8pPs8T84FSM329nffQpc6jD8GBM"
P2SH = "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"


def publish(base_url: str, world: World, *rows: dict[str, Any]) -> publisher.Summary:
    with FeedClient(base_url, world.watchdog.bearer, world.feed) as client:
        numbered = list(enumerate(rows, start=1))
        summary = publisher.send(client, publisher.prepare(client, numbered))
    assert summary.rejected == []
    return summary


def feed_command(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feed.cli", *args],
        capture_output=True, text=True, timeout=120, check=check,
    )  # fmt: skip


def test_publish_poll_screen_and_follow_changes(
    base_url: str, world: World, tmp_path: Path
) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    publish(
        base_url,
        world,
        {"chain": "BTC", "address": BTC, "category": "csam", "confidence": 90},
        {"chain": "ETH", "address": ETH, "category": "ransomware"},
        {"chain": "TRX", "address": TRON, "category": "scam", "valid_until": soon},
    )
    mirror = Mirror(tmp_path / "mirror.db")
    with FeedClient(base_url, world.exchange.bearer, "hotline") as client:
        first = poll(client, mirror)
    assert (first.indicators, first.left) == (3, 0)
    screener = mirror.screener()
    (hit,) = screener.screen(BTC, "BTC")
    assert (hit.feed, hit.watchdog_name, hit.category, hit.confidence) == (
        "hotline", "Hotline", "csam", 90,
    )  # fmt: skip
    # One EVM account is one key on every EVM chain: screened on BNB Smart Chain, it matches.
    assert [m.chain for m in screener.screen(ETH.lower(), "BSC")] == ["eip155:1"]
    assert screener.screen("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "BTC") == []

    publish(
        base_url,
        world,
        {"chain": "BTC", "address": BTC, "action": "revoke"},
        {"chain": "ETH", "address": ETH, "category": "ransomware", "confidence": 55},
    )
    time.sleep(3)
    with FeedClient(base_url, world.exchange.bearer, world.feed) as client:
        second = poll(client, mirror)
    assert (second.indicators, second.left) == (2, 2)
    left = {row["address"]: row for row in mirror.indicators(active=False)}
    assert (left[BTC]["left_reason"], left[TRON]["left_reason"]) == ("revoked", "expired")
    screener = mirror.screener()
    assert screener.screen(BTC, "BTC") == []
    assert [m.confidence for m in screener.screen(ETH, "ETH")] == [55]
    mirror.close()


def test_check_screen_and_report_hit_commands(base_url: str, world: World, tmp_path: Path) -> None:
    publish(base_url, world, {"chain": "ETH", "address": ETH, "category": "theft"})
    mirror = str(tmp_path / "mirror.db")
    env = ["--url", base_url, "--key", world.exchange.bearer]
    polled = feed_command("poll", *env, "--feed", "hotline", "--mirror", mirror, "--json")
    assert json.loads(polled.stdout)["indicators"] == 1

    clean = feed_command("check", "--mirror", mirror, BTC)
    assert (clean.returncode, clean.stdout.split("\t")[1].strip()) == (0, "no hit")
    hit = feed_command("check", "--mirror", mirror, "--json", ETH.lower(), "not-an-address")
    assert hit.returncode == 3
    found, invalid = json.loads(hit.stdout)
    assert found["matches"][0]["category"] == "theft"
    assert "no address of a known chain" in invalid["invalid"]

    transactions = tmp_path / "transactions.csv"
    transactions.write_text(
        f"id,wallet,chain\n1,{BTC},BTC\n2,{ETH.lower()},ETH\n3,0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD,\n"
    )
    screened = feed_command(
        "screen", str(transactions), "--address-column", "wallet", "--mirror", mirror, "--json"
    )
    assert screened.returncode == 3
    summary = json.loads(screened.stdout)
    assert summary["screened"] == 3
    assert [h["line"] for h in summary["hits"]] == [3]
    assert [(i["line"], "EIP-55" in i["reason"]) for i in summary["invalid"]] == [(4, True)]

    indicator = found["matches"][0]["indicator_id"]
    reported = feed_command(
        "report-hit", indicator, *env, "--mirror", mirror, "--count", "4",
        "--first-seen", "2026-11-20T10:00:00Z", "--last-seen", "2026-11-21T10:00:00Z", "--json",
    )  # fmt: skip
    assert reported.returncode == 0, reported.stderr
    sighting = json.loads(reported.stdout)
    url = f"{base_url}/api/collections/{world.reports}/objects/"
    owner = httpx2.get(url, headers=world.watchdog.headers, params={"match[type]": "sighting"})
    assert [o["id"] for o in owner.json()["objects"]] == [sighting["id"]]
    assert owner.json()["objects"][0]["count"] == 4
    assert httpx2.get(url, headers=world.exchange.headers).status_code == 403
    assert httpx2.get(url, headers=world.outsider.headers).status_code == 404


def test_the_reports_collection_takes_only_own_sightings_of_the_feed(
    base_url: str, world: World
) -> None:
    publish(base_url, world, {"chain": "ETH", "address": ETH, "category": "theft"})
    now = datetime.now(UTC)
    with FeedClient(base_url, world.exchange.bearer, world.feed) as client:
        (indicator,) = client.objects(type="indicator")
        me = world.exchange.identity

        def refused(sighting: dict[str, Any]) -> str:
            outcome = client.report(sighting)
            assert outcome.failure is not None
            return outcome.failure

        unknown = "indicator--00000000-0000-4000-8000-000000000000"
        sighting = build_sighting(me, unknown, count=1, first_seen=now, last_seen=now, now=now)
        assert "is not an object of the feed" in refused(sighting)
        sighting = build_sighting(me, indicator["id"], count=1, first_seen=now, last_seen=now,
                                  now=now)  # fmt: skip
        assert "report your own sightings" in refused(
            {**sighting, "where_sighted_refs": [world.outsider.identity]}
        )
        assert "takes sightings, not indicator" in refused(
            {**indicator, "created_by_ref": me, "id": "indicator--" + sighting["id"][10:]}
        )
        assert client.report(sighting).failure is None


def test_a_screener_of_some_addresses_holds_only_their_matches(tmp_path: Path) -> None:
    flagged = [parse_address(BTC, "BTC"), parse_address(ETH, "ETH"), parse_address(TRON, "TRX")]
    now = datetime.now(UTC)
    author = "identity--5d2c1b6e-8a7f-4e3d-9c2b-1a0f9e8d7c6b"
    indicators = [build_indicator(Flag(a, Category.SCAM), author, now) for a in flagged]
    with Mirror(tmp_path / "mirror.db") as mirror:
        mirror.register("f", "http://127.0.0.1/", "Feed", None)
        mirror.apply(
            "f", [i for i in indicators if i], watermark=None, next_token=None,
            next_added_after=None,
        )  # fmt: skip
        everything = mirror.screener()
        # One EVM account is one key on every chain, whichever the reading names.
        some = mirror.screener(only=[parse_address(ETH.lower(), "BSC")])
    assert (len(everything), len(some)) == (3, 1)
    assert some.screen(ETH.lower()) == everything.screen(ETH.lower()) != []
    assert some.screen(BTC) == [] != everything.screen(BTC)


def test_a_service_learns_when_a_poll_has_changed_the_mirror(tmp_path: Path) -> None:
    path = tmp_path / "mirror.db"
    with Mirror(path) as poller:
        poller.register("f", "http://127.0.0.1/", "Feed", None)
        poller.apply("f", [], watermark=None, next_token=None, next_added_after=None)
        with Mirror(path, create=False) as service:
            screener = service.screener()
            assert not service.changed()
            poller.apply("f", [built(flag(address=parse_address(BTC, "BTC")))], watermark=None,
                         next_token=None, next_added_after=None)  # fmt: skip
            assert service.changed()
            assert not service.changed()  # asked again: nothing since
            assert screener.screen(BTC) == []  # a screener holds what the mirror held
            assert [m.address for m in service.screener().screen(BTC)] == [BTC]
            service.expire()  # its own commits are no poll's
            assert not service.changed()


def test_a_forgotten_feed_screens_no_more_and_the_others_stay() -> None:
    revoked = {**built(flag(address=parse_address(ETH, "ETH"))), "revoked": True}
    with Mirror(":memory:") as mirror:
        for collection, url, alias in [("f", "http://a/", "hotline"), ("g", "http://b/", None),
                                       ("h", "http://c/", "hotline")]:  # fmt: skip
            mirror.register(collection, url, "Feed " + collection, alias)
        mirror.apply("f", [built(flag(address=parse_address(BTC, "BTC"))), revoked],
                     watermark="2026-12-01T00:00:00.000000Z", next_token=None,
                     next_added_after=None)  # fmt: skip
        mirror.apply("g", [built(flag())], watermark=None, next_token=None, next_added_after=None)
        assert [(f.name, f.url, f.active, f.left) for f in mirror.feeds()] == [
            ("hotline", "http://a/", 1, 1), ("Feed g", "http://b/", 1, 0),
            ("hotline", "http://c/", 0, 0),
        ]  # fmt: skip
        with pytest.raises(ConfigurationError, match="several feeds are named 'hotline'"):
            mirror.forget("hotline")  # one alias on two servers: named by collection id
        assert mirror.forget("f").active == 1
        assert mirror.screener().screen(BTC) == []
        assert [f.collection_id for f in mirror.feeds()] == ["g", "h"]
        assert {row["collection_id"] for row in mirror.indicators()} == {"g"}
        with pytest.raises(ConfigurationError, match=r"no feed is named 'f' .* holds Feed g \(g\)"):
            mirror.forget("f")


def test_a_key_screener_answers_as_the_screener_reading_hits_while_the_mirror_is_open(
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC)
    watchdog = json.loads(
        organisation_identity("5d2c1b6e-8a7f-4e3d-9c2b-1a0f9e8d7c6b", "Hotline", now)
    )
    author = watchdog["id"]
    flagged = [
        parse_address(text, chain)
        for text, chain in ((BTC, "BTC"), (ETH, "ETH"), (TRON, "TRX"), (P2SH, "BTC"))
    ]
    indicators = [i for a in flagged if (i := build_indicator(Flag(a, Category.SCAM), author, now))]
    texts = [BTC, ETH.lower(), TRON, P2SH, "31nadacWrgPeAQxKRMabhn3fPhnhi3hjKa", "not-an-address"]
    with Mirror(tmp_path / "mirror.db") as mirror:
        for feed, alias in (("f", None), ("g", "Sanctions")):
            mirror.register(feed, "http://127.0.0.1/", f"Feed {feed}", alias)
            mirror.apply(
                feed, [watchdog, *(indicators[1:] if feed == "g" else indicators)],
                watermark=None, next_token=None, next_added_after=None,
            )  # fmt: skip
        screener, keys = mirror.screener(), mirror.key_screener()
        assert len(keys) == len(screener) == 4
        for text in texts:
            assert _screened(keys, text) == _screened(screener, text)
        assert {m.feed for m in keys.screen(ETH)} == {"Feed f", "Sanctions"}
        assert {m.watchdog_name for m in keys.screen(ETH)} == {"Hotline"}
        revoked = {**indicators[0], "revoked": True, "modified": "2099-01-01T00:00:00.000Z"}
        mirror.apply("f", [revoked], watermark=None, next_token=None, next_added_after=None)
        assert keys.screen(BTC) == [] != screener.screen(BTC)
        assert len(mirror.key_screener()) == 3  # a domain's keys are its active ones alone
    with pytest.raises(ConfigurationError, match=r"mirror \S+ is closed: a key screener reads"):
        keys.screen(P2SH)


def _screened(screener: Screener | KeyScreener, text: str) -> list[Match] | str:
    try:
        return screener.screen(text)
    except InvalidAddress as error:
        return error.description


def _progressed(process: "subprocess.Popen[bytes]", lines: int, deadline: float) -> bool:
    """Wait for `lines` progress lines of the poller; False if it exited first."""
    assert process.stderr is not None
    descriptor, seen = process.stderr.fileno(), b""
    while seen.count(b"\n") < lines:
        ready, _, _ = select.select([descriptor], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, "the poller made no progress in time"
        chunk = os.read(descriptor, 4096)
        if not chunk:
            return False
        seen += chunk
    return True


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_mirror_that_cannot_be_written_says_why(
    base_url: str, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pollers overlapping (a cron job and one run by hand): the one kept waiting says
    so, naming the mirror, and a --follow poller retries it like any failed feed. A full
    disk is said as such, the page it cut short rolled back."""
    monkeypatch.setattr(mirror_module, "BUSY_SECONDS", 0.2)
    path = tmp_path / "mirror.db"
    Mirror(path).close()
    with closing(sqlite3.connect(path, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        with Mirror(path) as mirror, pytest.raises(MirrorError) as busy:
            mirror.register("f", "http://127.0.0.1/", "Feed", None)
        assert busy.value.description == (
            f"the mirror {path} is busy: another process (a poll still running?) has held it "
            "for writing for 0.2 s; try again"
        )
        polled = CliRunner().invoke(
            main, ["poll", "--url", base_url, "--key", world.exchange.bearer, "--mirror", str(path)]
        )
        assert polled.exit_code == 1
        assert polled.stderr == f"error: hotline: {busy.value.description}\n"
        holder.execute("ROLLBACK")
    with Mirror(path) as mirror:
        mirror.register("f", "http://127.0.0.1/", "Feed", None)
    with Mirror(path) as mirror:  # a full disk, made by capping the file at its size now
        pages = mirror._db.execute("PRAGMA page_count").fetchone()[0]
        mirror._db.execute(f"PRAGMA max_page_count = {pages}")
        rng = random.Random(3)
        many = [built(flag(address=synthetic_address(rng))) for _ in range(200)]
        with pytest.raises(MirrorError, match=f"^the mirror {path}: database or disk is full$"):
            mirror.apply("f", many, watermark=None, next_token=None, next_added_after=None)
        assert mirror.indicators() == []  # the page's transaction was rolled back whole
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database" * 100)
    with pytest.raises(ConfigurationError, match=f"cannot open the mirror {broken}: file is not"):
        Mirror(broken)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_poller_killed_at_random_points_ends_identical_to_the_feed(
    world: World, tmp_path: Path, database_url: str
) -> None:
    # Pages of 5 make the poller report progress every 50 objects; each kill comes a random
    # moment after a random report, so it lands mid-sync however fast the machine is.
    settings = Settings(database_url=database_url, page_limit_max=5, max_content_length=200_000)
    with serving(settings) as base_url, RANSOMWARE.open() as given:
        rows = [
            {"chain": "BTC", "address": line.split(",")[0], "category": "ransomware"}
            for line in list(given)[1:]
        ]
        publish(base_url, world, *rows)
        mirror = str(tmp_path / "mirror.db")
        command = [
            *(sys.executable, "-m", "feed.cli", "poll", "--url", base_url),
            *("--key", world.exchange.bearer, "--feed", world.feed, "--mirror", mirror),
        ]
        randomness = random.Random(20261122)
        kills = 0
        for attempt in range(60 * SOAK):
            if attempt == 3:  # the feed moves on while the poller is down
                publish(base_url, world, {"chain": "BTC", "address": rows[0]["address"],
                                          "action": "revoke"})  # fmt: skip
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                if _progressed(process, randomness.randint(1, 3), time.monotonic() + 60):
                    time.sleep(randomness.uniform(0, 0.02))
                    if process.poll() is None:
                        os.kill(process.pid, signal.SIGKILL)
                        kills += 1
                process.wait(timeout=60)
            finally:
                assert process.stderr is not None
                process.stderr.close()
            if attempt > 3 and process.returncode == 0:
                break
        assert kills >= 3, "the poller was never interrupted mid-sync"
        assert process.returncode == 0
        with FeedClient(base_url, world.exchange.bearer, world.feed) as client:
            feed = {o["id"]: o for o in client.objects(type="indicator")}
    with Mirror(mirror) as local:
        held = {row["id"]: row for row in local.indicators()}
    assert held.keys() == feed.keys()
    assert all(row["version"][:23] == feed[i]["modified"][:23] for i, row in held.items())
    revoked = [i for i, row in held.items() if row["left_reason"] == "revoked"]
    assert revoked == [i for i, o in feed.items() if o.get("revoked")]
    assert len(revoked) == 1

"""Polling against servers that answer wrongly: what is no envelope or no object, pages that
do not advance, runs of empty pages saying more follow, and a date_added_last that is no
timestamp. The poll stops with a reason, or goes on where it can, and keeps its place. And
`feed poll` of several feeds, one of which cannot be polled: the others are polled still; and
of every feed a key may read, as grants are given and withdrawn."""

import json
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from feed import accounts
from feed.addresses import parse_address
from feed.client import FeedClient
from feed.errors import RemoteError
from feed.mirror import Mirror
from feed.polling import EMPTY_PAGES_IN_A_ROW, poll
from feed.store import Store
from tests.conftest import World
from tests.hostile_server import COLLECTION, HostileServer
from tests.test_mirror import BTC, feed_command, publish
from tests.test_stix import built, flag


def _poll_hostile(
    pages: list[bytes], tmp_path: Path, date_added_last: str | None = None
) -> tuple[Mirror, HostileServer]:
    server = HostileServer(pages, date_added_last=date_added_last)
    mirror = Mirror(tmp_path / "mirror.db")
    with server, FeedClient(server.url, "k.s", COLLECTION) as client:
        try:
            poll(client, mirror, acknowledge=False)
        except BaseException:
            mirror.close()
            raise
    return mirror, server


@pytest.mark.parametrize(
    "body", [b"[1, 2]", b'{"objects": {"a": 1}}', b'{"objects": [], "next": 5}']
)
def test_a_page_that_is_no_envelope_stops_the_poll_with_a_reason(
    body: bytes, tmp_path: Path
) -> None:
    with pytest.raises(RemoteError, match="no TAXII envelope"):
        _poll_hostile([body], tmp_path)


def test_what_in_a_page_is_no_object_is_ignored(tmp_path: Path) -> None:
    indicator = built(flag(address=parse_address(BTC, "BTC")))
    page = json.dumps({"objects": [1, "x", None, [], indicator], "more": False}).encode()
    mirror, _ = _poll_hostile([page], tmp_path)
    with mirror:
        assert mirror.screener().screen(BTC) != []


def test_a_server_whose_pages_do_not_advance_stops_the_poll(tmp_path: Path) -> None:
    # Answering a cursor with the same cursor again would keep a poller asking for ever, and
    # no later flag would reach the exchange; it stops and says why instead.
    stuck = json.dumps({"objects": [], "more": True, "next": "again"}).encode()
    with pytest.raises(RemoteError, match="pages do not advance"):
        _poll_hostile([stuck], tmp_path)


def test_a_server_that_answers_only_empty_pages_saying_more_follow_stops_the_poll(
    tmp_path: Path,
) -> None:
    # Each page names a new cursor, so no one page repeats: the run of empty pages is bounded.
    empty = [
        json.dumps({"objects": [], "more": True, "next": f"cursor-{n}"}).encode()
        for n in range(EMPTY_PAGES_IN_A_ROW + 10)
    ]
    server = HostileServer(empty, limit=EMPTY_PAGES_IN_A_ROW + 10)
    with (
        Mirror(tmp_path / "mirror.db") as mirror,
        server,
        FeedClient(server.url, "k.s", COLLECTION) as client,
    ):
        with pytest.raises(RemoteError, match=f"{EMPTY_PAGES_IN_A_ROW} empty pages in a row"):
            poll(client, mirror, acknowledge=False)
        assert server.served == EMPTY_PAGES_IN_A_ROW
        # The poll kept its place: the next one asks from the last cursor it was given.
        assert mirror.cursor(COLLECTION)[1] == f"cursor-{EMPTY_PAGES_IN_A_ROW - 1}"


def test_empty_pages_between_full_ones_do_not_stop_the_poll(tmp_path: Path) -> None:
    indicator = built(flag(address=parse_address(BTC, "BTC")))
    empty = [
        json.dumps({"objects": [], "more": True, "next": f"cursor-{n}"}).encode()
        for n in range(EMPTY_PAGES_IN_A_ROW - 1)
    ]
    full = json.dumps({"objects": [indicator], "more": True, "next": "full"}).encode()
    last = json.dumps({"objects": [], "more": False}).encode()
    pages = [*empty, full, *empty, last]
    server = HostileServer(pages, limit=len(pages))
    with (
        Mirror(tmp_path / "mirror.db") as mirror,
        server,
        FeedClient(server.url, "k.s", COLLECTION) as client,
    ):
        polled = poll(client, mirror, acknowledge=False)
        assert (polled.pages, server.served) == (len(pages), len(pages))
        assert mirror.screener().screen(BTC) != []


def test_a_page_whose_date_added_last_is_no_timestamp_stops_the_poll(tmp_path: Path) -> None:
    # The poller would go on from it, and every later poll would be refused.
    page = json.dumps({"objects": [], "more": False}).encode()
    with pytest.raises(RemoteError, match="X-TAXII-Date-Added-Last 'soon' is not a UTC"):
        _poll_hostile([page], tmp_path, date_added_last="soon")


def test_a_feed_that_cannot_be_polled_holds_up_none_of_the_others(
    base_url: str, world: World, tmp_path: Path
) -> None:
    publish(base_url, world, {"chain": "BTC", "address": BTC, "category": "csam"})
    mirror = str(tmp_path / "mirror.db")
    # The key may not read the other watchdog's feed; named first, it stopped the poll.
    polled = feed_command(
        "poll", "--url", base_url, "--key", world.exchange.bearer, "--mirror", mirror,
        "--feed", world.other_feed, "--feed", "hotline", "--json",
    )  # fmt: skip
    assert polled.returncode == 1
    assert f"error: {world.other_feed}: " in polled.stderr
    assert "no collection" in polled.stderr
    assert json.loads(polled.stdout)["indicators"] == 1
    with Mirror(mirror) as local:
        assert local.screener().screen(BTC) != []


def test_a_poll_naming_no_feed_polls_every_feed_the_key_may_read(
    base_url: str, store: Store, world: World, tmp_path: Path
) -> None:
    publish(base_url, world, {"chain": "BTC", "address": BTC, "category": "csam"})
    poll_every_feed = (
        "poll", "--url", base_url, "--key", world.exchange.bearer, "--mirror",
        str(tmp_path / "mirror.db"), "--json",
    )  # fmt: skip

    def polled() -> tuple[int, dict[str, int], str]:
        done = feed_command(*poll_every_feed)
        results = [json.loads(line) for line in done.stdout.splitlines()]
        return done.returncode, {r["feed"]: r["indicators"] for r in results}, done.stderr

    assert polled() == (0, {"hotline": 1}, "")  # not the feed it was never granted
    own = feed_command("poll", "--url", base_url, "--key", world.watchdog.bearer, "--mirror",
                       str(tmp_path / "watchdog.db"))  # fmt: skip
    # A watchdog's own feeds are not its to poll, and a poll of nothing is no success.
    assert (own.returncode, own.stdout, own.stderr) == (
        1, "", f"error: {base_url}: the key is granted no feed to poll\n"
    )  # fmt: skip
    with store.writing() as session:
        exchange = accounts.find_organisation(session, world.exchange.id)
        accounts.grant_feed(session, accounts.find_feed(session, world.other_feed), exchange)
    assert polled() == (0, {"hotline": 0, world.other_feed: 0}, "")
    with store.writing() as session:
        exchange = accounts.find_organisation(session, world.exchange.id)
        accounts.withdraw_feed(session, accounts.find_feed(session, "hotline"), exchange)
    # What the mirror holds of a withdrawn feed still screens: its poll fails, saying why.
    status, results, errors = polled()
    assert (status, results) == (1, {world.other_feed: 0})
    assert (
        errors == f"error: hotline: {base_url} has no collection 'hotline' that this key may use\n"
    )


def test_a_follower_goes_on_polling_the_feeds_it_can(
    base_url: str, world: World, tmp_path: Path
) -> None:
    command = [
        sys.executable, "-m", "feed.cli", "poll", "--follow", "--interval", "1", "--url",
        base_url, "--key", world.exchange.bearer, "--mirror", str(tmp_path / "mirror.db"),
        "--feed", world.other_feed, "--feed", "hotline", "--json",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        assert json.loads(_next_line(process, deadline))["indicators"] == 0
        publish(base_url, world, {"chain": "BTC", "address": BTC, "category": "csam"})
        while json.loads(_next_line(process, deadline))["indicators"] == 0:
            pass  # rounds that ended before the publication
    finally:
        process.kill()
        process.wait(timeout=30)
        assert process.stdout is not None
        process.stdout.close()


def _next_line(process: "subprocess.Popen[bytes]", deadline: float) -> bytes:
    """The follower's next line of output; it must come before `deadline`."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
    assert ready, "the follower printed nothing in time"
    line = process.stdout.readline()
    assert line, f"the follower exited ({process.wait(timeout=30)})"
    return line

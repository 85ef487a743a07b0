"""No object is ever missed by a poller: publishers post at once to a server with two worker
processes while pollers continue with `added_after` and `next`, and acknowledge."""

import threading
from collections import Counter
from pathlib import Path

import httpx2

from feed import accounts
from feed import publisher as publisher_module
from feed.client import FeedClient
from feed.config import Settings
from feed.encodings import base58check_encode
from feed.mirror import Mirror
from feed.polling import poll
from feed.store import Store
from feed.taxii import TAXII_MEDIA_TYPE
from tests.conftest import World
from tests.serving import serving
from tests.soak import SOAK
from tests.stix_objects import envelope, indicator

ENVELOPES = 15 * SOAK
PER_ENVELOPE = 8


def test_poller_sees_every_object_exactly_once(settings: Settings, world: World) -> None:
    posted: list[str] = []
    failures: list[str] = []
    done = threading.Event()

    with serving(settings, workers=2) as base:
        url = f"{base}/api/collections/{world.feed}/objects/"
        publish_headers = {**world.watchdog.headers, "Content-Type": TAXII_MEDIA_TYPE}

        def publish(publisher: int) -> None:
            with httpx2.Client(timeout=30) as http:
                for batch in range(ENVELOPES):
                    objects = [
                        indicator(
                            world.watchdog.identity, number=publisher * 10_000 + batch * 100 + n
                        )
                        for n in range(PER_ENVELOPE)
                    ]
                    response = http.post(url, json=envelope(*objects), headers=publish_headers)
                    if (
                        response.status_code != 202
                        or response.json()["success_count"] != PER_ENVELOPE
                    ):
                        failures.append(response.text)
                    posted.extend(o["id"] for o in objects)

        seen: list[str] = []

        def poll_once(http: httpx2.Client, added_after: str | None) -> str | None:
            params: dict[str, str] = {"limit": "7"}
            if added_after:
                params["added_after"] = added_after
            while True:
                response = http.get(url, params=params, headers=world.exchange.headers)
                assert response.status_code == 200, response.text
                page = response.json()
                seen.extend(o["id"] for o in page.get("objects", []))
                added_after = response.headers.get("X-TAXII-Date-Added-Last", added_after)
                if not page["more"]:
                    return added_after
                params["next"] = page["next"]

        publishers = [threading.Thread(target=publish, args=(n,)) for n in range(2)]
        for thread in publishers:
            thread.start()
        with httpx2.Client(timeout=30) as http:
            marker = None
            while not done.is_set():
                if not any(thread.is_alive() for thread in publishers):
                    done.set()  # one more poll after the last commit
                marker = poll_once(http, marker)
        for thread in publishers:
            thread.join()

    assert failures == []
    counts = Counter(seen)
    assert [i for i, n in counts.items() if n > 1] == []
    assert set(posted) <= set(counts)
    assert len(posted) == 2 * ENVELOPES * PER_ENVELOPE


def _confidence(round_number: int) -> int:
    """What a publisher says of its addresses in a round: each round says something new."""
    return 10 + round_number % 90


def test_publishers_and_acknowledging_pollers_end_in_agreement(
    settings: Settings, store: Store, world: World, tmp_path: Path
) -> None:
    """Two watchdog publishers post revisions while two exchanges poll into mirrors and
    acknowledge; at the end every mirror equals the feed and every acknowledgement is right."""
    with store.writing() as session:
        feed = accounts.find_feed(session, world.feed)
        accounts.grant_feed(session, feed, accounts.find_organisation(session, world.outsider.id))
    exchanges = (world.exchange, world.outsider)
    addresses = [base58check_encode(b"\x00" + bytes([n]) * 20) for n in range(40)]
    rounds = 4 * SOAK
    errors: list[BaseException] = []

    with serving(settings, workers=2) as base:

        def publish(publisher: int) -> None:
            try:
                for round_number in range(rounds):
                    mine = addresses[publisher::2]
                    rows = [
                        {"chain": "BTC", "address": a, "category": "theft",
                         "confidence": _confidence(round_number)}
                        for a in mine
                    ]  # fmt: skip
                    with FeedClient(base, world.watchdog.bearer, world.feed) as client:
                        numbered = list(enumerate(rows, start=1))
                        summary = publisher_module.send(
                            client, publisher_module.prepare(client, numbered)
                        )
                    assert summary.rejected == []
            except BaseException as error:  # reported after the threads end
                errors.append(error)

        stop = threading.Event()

        def follow(index: int) -> None:
            try:
                with Mirror(tmp_path / f"mirror-{index}.db") as mirror:
                    while not stop.is_set():
                        with FeedClient(base, exchanges[index].bearer, world.feed) as client:
                            poll(client, mirror)
            except BaseException as error:
                errors.append(error)

        pollers = [threading.Thread(target=follow, args=(n,)) for n in range(2)]
        publishers = [threading.Thread(target=publish, args=(n,)) for n in range(2)]
        for thread in (*pollers, *publishers):
            thread.start()
        for thread in publishers:
            thread.join()
        stop.set()
        for thread in pollers:
            thread.join()
        assert errors == []

        with FeedClient(base, world.watchdog.bearer, world.feed) as owner:
            latest = {o["id"]: o for o in owner.objects(type="indicator")}
            state = {s["organisation"]: s for s in owner.acknowledgements()["subscribers"]}
        assert len(latest) == len(addresses)
        assert {o["confidence"] for o in latest.values()} == {_confidence(rounds - 1)}
        for index, member in enumerate(exchanges):
            with Mirror(tmp_path / f"mirror-{index}.db") as mirror:
                with FeedClient(base, member.bearer, world.feed) as client:
                    poll(client, mirror)
                held = {row["id"]: row for row in mirror.indicators()}
            assert held.keys() == latest.keys()
            assert {row["confidence"] for row in held.values()} == {_confidence(rounds - 1)}
            with FeedClient(base, world.watchdog.bearer, world.feed) as owner:
                mine = next(
                    s for s in owner.acknowledgements()["subscribers"]
                    if s["organisation"] == member.name
                )  # fmt: skip
            assert mine["pending"] == 0
            assert mine["acknowledged_through"] == mine["served_through"]
        assert set(state) == {member.name for member in exchanges}

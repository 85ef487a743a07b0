"""Acknowledgements end to end: exchanges poll at different times, the watchdog sees who is
behind and by how much, what one exchange rejected reaches it, and nobody reads or forges
another's state."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import jsonschema
import pytest
from pydantic import BaseModel

from feed import accounts
from feed.client import FeedClient
from feed.deliveries import AcknowledgementIn, AcknowledgementState, ObjectAcknowledgements
from feed.mirror import Mirror
from feed.polling import poll
from feed.store import Store
from feed.taxii import TAXII_MEDIA_TYPE
from tests.conftest import Member, World
from tests.stix_objects import indicator
from tests.test_mirror import publish

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
BTC = "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu"
ETH = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
TRON = "TAYhjpL8pPs8T84FSM329nffQpc6jD8GBM"


def owner_view(base_url: str, world: World) -> dict[str, dict[str, Any]]:
    with FeedClient(base_url, world.watchdog.bearer, world.feed) as client:
        state = client.acknowledgements()
    jsonschema.validate(state, json.loads((SCHEMAS / "acknowledgement-state.json").read_text()))
    return {s["organisation"]: s for s in state["subscribers"]}


def mirror_poll(base_url: str, member: Member, path: Path) -> None:
    with FeedClient(base_url, member.bearer, "hotline") as client, Mirror(path) as mirror:
        poll(client, mirror)


def test_the_watchdog_sees_who_is_behind(
    base_url: str, world: World, second_exchange: Member, tmp_path: Path
) -> None:
    publish(base_url, world, {"chain": "BTC", "address": BTC, "category": "csam"},
            {"chain": "ETH", "address": ETH, "category": "scam"})  # fmt: skip
    everything = len(world.feed_seed) + 2
    before = owner_view(base_url, world)
    assert set(before) == {world.exchange.name, second_exchange.name}
    assert before[world.exchange.name]["pending"] == everything
    assert "last_poll" not in before[world.exchange.name]

    mirror_poll(base_url, world.exchange, tmp_path / "a.db")
    state = owner_view(base_url, world)
    first, second = state[world.exchange.name], state[second_exchange.name]
    assert first["pending"] == 0
    assert first["acknowledged_through"] == first["served_through"] is not None
    assert "oldest_pending_age_seconds" not in first
    assert (second["pending"], "last_poll" in second) == (everything, False)
    assert second["oldest_pending_age_seconds"] > 0

    publish(base_url, world, {"chain": "TRX", "address": TRON, "category": "theft"})
    state = owner_view(base_url, world)
    assert (state[world.exchange.name]["pending"], state[second_exchange.name]["pending"]) == (
        1, everything + 1,
    )  # fmt: skip
    mirror_poll(base_url, world.exchange, tmp_path / "a.db")
    mirror_poll(base_url, second_exchange, tmp_path / "b.db")
    assert [s["pending"] for s in owner_view(base_url, world).values()] == [0, 0]


def test_a_withdrawn_subscriber_s_receipts_stay_in_the_watchdog_s_record(
    base_url: str, world: World, second_exchange: Member, store: Store, tmp_path: Path
) -> None:
    publish(base_url, world, {"chain": "BTC", "address": BTC, "category": "csam"})
    mirror_poll(base_url, world.exchange, tmp_path / "a.db")
    received = owner_view(base_url, world)[world.exchange.name]
    with store.writing() as session:
        accounts.withdraw_feed(
            session,
            accounts.find_feed(session, world.feed),
            accounts.find_organisation(session, world.exchange.id),
        )
    state = owner_view(base_url, world)
    assert {name: s["subscribed"] for name, s in state.items()} == {
        world.exchange.name: False,
        second_exchange.name: True,  # granted, never polled: listed as before
    }
    kept = ("last_poll", "served_through", "acknowledged_through")
    assert [state[world.exchange.name][k] for k in kept] == [received[k] for k in kept]

    def acks(*extra: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "feed.cli", "acks", "hotline", "--url", base_url,
             "--key", world.watchdog.bearer, *extra],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout  # fmt: skip

    assert f"\n{world.exchange.name} (withdrawn)\t" in acks()
    with FeedClient(base_url, world.watchdog.bearer, world.feed) as client:
        [flagged] = list(client.objects(type="indicator"))
    receipts = json.loads(acks("--object", flagged["id"], "--json"))["subscribers"]
    assert [
        (r["organisation"], r["subscribed"], r["versions"][0]["received"]) for r in receipts
    ] == [
        (world.exchange.name, False, True),
        (second_exchange.name, True, False),
    ]


def test_a_rejected_object_reaches_the_watchdog_with_its_reason(
    base_url: str, world: World, tmp_path: Path
) -> None:
    garbage = indicator(world.watchdog.identity, pattern="[cryptocurrency-wallet:value = 'xyz1']")
    with FeedClient(base_url, world.watchdog.bearer, world.feed) as client:
        (outcome,) = client.post([json.dumps(garbage).encode()])
    assert outcome.failure is None
    mirror_poll(base_url, world.exchange, tmp_path / "a.db")
    subscriber = owner_view(base_url, world)[world.exchange.name]
    assert subscriber["rejected"] == 1

    done = subprocess.run(
        [sys.executable, "-m", "feed.cli", "acks", "hotline", "--url", base_url,
         "--key", world.watchdog.bearer, "--object", garbage["id"], "--json"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    receipts = json.loads(done.stdout)
    jsonschema.validate(
        receipts, json.loads((SCHEMAS / "object-acknowledgements.json").read_text())
    )
    (mine,) = [s for s in receipts["subscribers"] if s["organisation"] == world.exchange.name]
    (version,) = mine["versions"]
    assert (version["received"], version["acknowledged"], version["outcome"]) == (
        True, True, "rejected",
    )  # fmt: skip
    assert "no address we know" in version["reason"]

    table = subprocess.run(
        [sys.executable, "-m", "feed.cli", "acks", "hotline", "--url", base_url,
         "--key", world.watchdog.bearer],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert table.stdout.splitlines()[0].startswith("subscriber\tlast poll")
    assert any(line.startswith(world.exchange.name + "\t") for line in table.stdout.splitlines())


def post_ack(base_url: str, member: Member, collection: str, body: Any) -> httpx2.Response:
    return httpx2.post(
        f"{base_url}/api/collections/{collection}/acknowledgements/",
        content=body if isinstance(body, bytes) else json.dumps(body).encode(),
        headers={**member.headers, "Content-Type": TAXII_MEDIA_TYPE},
    )


def test_nobody_reads_or_forges_another_organisations_state(
    base_url: str, world: World, second_exchange: Member, tmp_path: Path
) -> None:
    publish(base_url, world, {"chain": "BTC", "address": BTC, "category": "csam"})
    mirror_poll(base_url, world.exchange, tmp_path / "a.db")
    with FeedClient(base_url, world.exchange.bearer, world.feed) as client:
        own = client.acknowledgements()
        (indicator_object,) = client.objects(type="indicator")
    assert [s["organisation"] for s in own["subscribers"]] == [world.exchange.name]
    with FeedClient(base_url, second_exchange.bearer, world.feed) as client:
        theirs = client.acknowledgements(indicator_object["id"])
    assert [s["organisation"] for s in theirs["subscribers"]] == [second_exchange.name]
    assert theirs["subscribers"][0]["versions"][0]["received"] is False

    served = own["subscribers"][0]["served_through"]
    refusals = {
        "far": post_ack(base_url, world.exchange, world.feed, {"through": "2099-01-01T00:00:00Z"}),
        "unserved": post_ack(base_url, second_exchange, world.feed, {"through": served}),
        "outcome": post_ack(base_url, world.exchange, world.feed, {"through": served, "outcomes": [
            {"id": "indicator--00000000-0000-4000-8000-000000000000",
             "version": "2025-01-01T00:00:00Z", "outcome": "applied"}]}),
        "malformed": post_ack(base_url, world.exchange, world.feed, {"thru": served}),
        "not json": post_ack(base_url, world.exchange, world.feed, b"{"),
    }  # fmt: skip
    for name, response in refusals.items():
        assert response.status_code == 400, name
        assert response.headers["content-type"] == TAXII_MEDIA_TYPE
        assert response.json()["http_status"] == "400"
    assert "past what you were served" in refusals["far"].json()["description"]
    assert "was not served to you" in refusals["outcome"].json()["description"]
    assert (
        post_ack(base_url, world.exchange, world.other_feed, {"through": served}).status_code == 404
    )
    assert post_ack(base_url, world.watchdog, world.feed, {"through": served}).status_code == 403
    wrong_type = httpx2.post(
        f"{base_url}/api/collections/{world.feed}/acknowledgements/",
        content=json.dumps({"through": served}).encode(),
        headers={**world.exchange.headers, "Content-Type": "application/json"},
    )
    assert wrong_type.status_code == 415

    # Monotonic and idempotent: an older watermark is taken and changes nothing.
    older = post_ack(base_url, world.exchange, world.feed, {"through": "2000-01-01T00:00:00Z"})
    assert older.status_code == 200
    assert older.json()["acknowledged_through"] == served
    again = post_ack(base_url, world.exchange, world.feed, {"through": served})
    assert again.json() == older.json()


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("acknowledgement-request", AcknowledgementIn),
        ("acknowledgement-state", AcknowledgementState),
        ("object-acknowledgements", ObjectAcknowledgements),
    ],
)
def test_schemas_are_the_models(name: str, model: type[BaseModel]) -> None:
    published = json.loads((SCHEMAS / f"{name}.json").read_text())
    published.pop("$schema")
    assert published == {"$id": f"{name}.json", **model.model_json_schema()}, (
        f"regenerate schemas/{name}.json from {model.__name__}.model_json_schema()"
    )

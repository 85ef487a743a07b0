"""The lookup endpoint: the server's index of flagged addresses follows every new version,
revocation, expiry and deletion, and answers only from collections the caller may read."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from feed.addresses import parse_address
from feed.indicators import Flag, build_indicator, revoke_indicator
from feed.stix import Category
from tests.conftest import Member, World
from tests.server.test_objects import objects_url, post
from tests.stix_objects import envelope, indicator

ETH = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
BTC = "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu"
URL = "/api/lookup/"


def flagged(world: World, address: str, chain: str, **changes: Any) -> dict[str, Any]:
    flag = Flag(parse_address(address, chain), Category.RANSOMWARE)
    built = build_indicator(flag, world.watchdog.identity, datetime.now(UTC), **changes)
    assert built is not None
    return built


def ask(client: TestClient, member: Member, **params: str) -> dict[str, Any]:
    response = client.get(URL, params=params, headers=member.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_lookup_follows_the_latest_version(client: TestClient, world: World) -> None:
    first = flagged(world, ETH, "ETH")
    post(client, world.watchdog, world.feed, envelope(first))
    found = ask(client, world.exchange, address=ETH.lower())
    assert found["flagged"] is True
    assert found["readings"] == [{"chain": "eip155:1", "address": ETH}]
    (match,) = found["matches"]
    assert (match["indicator"], match["category"], match["collection"]) == (
        first["id"], "ransomware", world.feed,
    )  # fmt: skip
    # Screened on another EVM chain, the same account is flagged.
    assert ask(client, world.exchange, address=ETH, chain="BSC")["flagged"] is True
    assert ask(client, world.outsider, address=ETH.lower()) == {
        **found,
        "flagged": False,
        "matches": [],
    }

    later = datetime.now(UTC) + timedelta(seconds=1)
    revoked = revoke_indicator(first, later)
    post(client, world.watchdog, world.feed, envelope(revoked))
    assert ask(client, world.exchange, address=ETH)["flagged"] is False

    # Deleting the revocation makes the first version the latest again, and flagged.
    version = revoked["modified"].replace("Z", "000Z")
    deleted = client.delete(
        f"{objects_url(world.feed)}{first['id']}/",
        params={"match[version]": version},
        headers=world.watchdog.headers,
    )
    assert deleted.status_code == 200, deleted.text
    assert ask(client, world.exchange, address=ETH)["flagged"] is True


def test_expired_indicators_no_longer_match(client: TestClient, world: World) -> None:
    past = flagged(world, BTC, "BTC")
    past["valid_from"] = "2020-01-01T00:00:00.000Z"
    past["valid_until"] = "2021-01-01T00:00:00.000Z"
    post(client, world.watchdog, world.feed, envelope(past))
    assert ask(client, world.exchange, address=BTC, chain="BTC")["flagged"] is False


def test_plain_wallet_patterns_are_matched_on_every_chain_they_fit(
    client: TestClient, world: World
) -> None:
    plain = indicator(world.watchdog.identity, pattern=f"[cryptocurrency-wallet:value = '{BTC}']")
    post(client, world.watchdog, world.feed, envelope(plain))
    for chain in ("BTC", "BCH"):
        (match,) = ask(client, world.exchange, address=BTC, chain=chain)["matches"]
        assert match["indicator"] == plain["id"]


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"address": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"}, "bad-case"),
        ({"address": BTC[:-1] + "X", "chain": "BTC"}, "bad-checksum"),
        ({"address": BTC, "chain": "Dogecoin Gold"}, "unknown-chain"),
        ({"address": "hello"}, "unknown-prefix"),
    ],
)
def test_invalid_addresses_get_400_saying_why(
    client: TestClient, world: World, params: dict[str, str], problem: str
) -> None:
    response = client.get(URL, params=params, headers=world.exchange.headers)
    assert response.status_code == 400
    assert response.json()["details"]["problem"] == problem
    assert response.json()["http_status"] == "400"


def test_lookup_needs_a_key_and_an_address(client: TestClient, world: World) -> None:
    assert (
        client.get(
            URL, params={"address": BTC}, headers={"Accept": "application/taxii+json"}
        ).status_code
        == 401
    )
    assert client.get(URL, headers=world.exchange.headers).status_code == 400

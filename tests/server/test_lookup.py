"""The lookup endpoint: the server's index of flagged addresses follows every new version,
revocation, expiry and deletion, and answers only from collections the caller may read."""

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from pydantic import BaseModel

from feed.addresses import parse_address
from feed.indicators import Flag, build_indicator, revoke_indicator
from feed.sandbox import synthetic_address
from feed.server.lookup import MOST_ADDRESSES, LookupRequest, LookupResult, LookupResults
from feed.stix import Category
from feed.taxii import TAXII_MEDIA_TYPE
from tests.conftest import Member, World
from tests.server.test_objects import POST, objects_url, post
from tests.stix_objects import envelope, indicator

ETH = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
BTC = "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu"
URL = "/api/lookup/"
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


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
    # Named as an exchange's mirror names it: the feed's title and its watchdog's name.
    assert (match["collection_title"], match["watchdog_name"]) == ("Hotline alerts", "Hotline")
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


def ask_many(client: TestClient, member: Member, body: Any) -> Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(URL, content=data, headers={**member.headers, **POST})


def test_a_batch_is_answered_address_by_address_as_get_answers_each(
    client: TestClient, world: World
) -> None:
    eth, btc = flagged(world, ETH, "ETH"), flagged(world, BTC, "BTC")
    post(client, world.watchdog, world.feed, envelope(eth, btc))
    unflagged = "0x" + "12" * 20
    asked = [
        {"address": ETH.lower()},
        {"address": BTC, "chain": "BTC"},
        {"address": "nonsense"},
        {"address": ETH, "chain": "BSC"},  # one EVM account on every EVM chain
        {"address": unflagged},
        {"address": BTC, "chain": "Dogecoin Gold"},
    ]
    response = ask_many(client, world.exchange, {"addresses": asked})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == TAXII_MEDIA_TYPE
    results = response.json()["results"]
    jsonschema.validate(response.json(), schema("lookup-results"))
    assert [r.get("flagged") for r in results] == [True, True, None, True, False, None]
    for one, result in zip(asked, results, strict=True):
        if "invalid" in result:
            got = client.get(URL, params=one, headers=world.exchange.headers)
            assert (got.status_code, result) == (
                400, {"address": one["address"], "invalid": got.json()["description"]},
            )  # fmt: skip
        else:
            assert result == ask(client, world.exchange, **one)
            jsonschema.validate(result, schema("lookup-result"))
    # Only collections the caller may read: the outsider finds nothing flagged.
    outsider = ask_many(client, world.outsider, {"addresses": asked[:2]}).json()["results"]
    assert [r["flagged"] for r in outsider] == [False, False]


def test_a_batch_of_the_most_addresses_is_answered_and_one_more_refused(
    client: TestClient, world: World
) -> None:
    rng = random.Random(7)
    made = [synthetic_address(rng) for _ in range(MOST_ADDRESSES)]
    some = [flagged(world, a.canonical, a.chain.caip2) for a in made[::250]]
    post(client, world.watchdog, world.feed, envelope(*some))
    addresses = [address.canonical for address in made]
    response = ask_many(client, world.exchange, {"addresses": [{"address": a} for a in addresses]})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["address"] for r in results] == addresses
    assert [i for i, r in enumerate(results) if r["flagged"]] == list(range(0, 1000, 250))
    over = {"addresses": [{"address": addresses[0]}] * (MOST_ADDRESSES + 1)}
    refused = ask_many(client, world.exchange, over)
    assert refused.status_code == 413
    assert refused.json()["description"] == "the lookup asks about 1001 addresses; at most 1000"


@pytest.mark.parametrize(
    ("body", "refusal"),
    [
        (b"{", "not a lookup: body: Invalid JSON"),
        ({"addresses": []}, "not a lookup: addresses: List should have at least 1 item"),
        ({"addresses": [{"address": BTC, "memo": "x"}]}, "addresses.0.memo: Extra inputs"),
        ({"address": BTC}, "not a lookup: addresses: Field required"),
    ],
)
def test_a_batch_that_is_no_lookup_gets_400_saying_why(
    client: TestClient, world: World, body: Any, refusal: str
) -> None:
    response = ask_many(client, world.exchange, body)
    assert response.status_code == 400
    assert refusal in response.json()["description"]


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("lookup-request", LookupRequest),
        ("lookup-result", LookupResult),
        ("lookup-results", LookupResults),
    ],
)
def test_schemas_are_the_models(name: str, model: type[BaseModel]) -> None:
    published = schema(name)
    published.pop("$schema")
    assert published == {"$id": f"{name}.json", **model.model_json_schema()}, (
        f"regenerate schemas/{name}.json from {model.__name__}.model_json_schema()"
    )


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}.json").read_text())
    return loaded

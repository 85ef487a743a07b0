"""Bad input of every kind gets a TAXII error body that says what was wrong, never a 500."""

import copy
import json
from base64 import b64encode
from typing import Any

import pytest
from fastapi.testclient import TestClient

from feed.config import Settings
from feed.stix import EXTENSION_ID
from feed.taxii import TAXII_MEDIA_TYPE
from tests.conftest import World
from tests.server.test_lookup import BTC, flagged
from tests.server.test_objects import objects_url, post
from tests.stix_objects import envelope

POST = {"Content-Type": TAXII_MEDIA_TYPE}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{", "not valid JSON"),
        (b'{"objects": [1, 2]', "not valid JSON"),
        (b"[]", "must be a TAXII envelope"),
        (b'{"objects": {}}', "`objects` list"),
        (b'{"objects": []}', "`objects` list"),
        (b'{"objects": [{}]}'[:-1] + b"\xff}", "not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, "must be a TAXII envelope"),
        (b'{"objects": ' + b"[" * 3000 + b"]" * 3000 + b"}", "nested too deeply near line 1"),
        (b'{"objects": [{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}]}", "nested too deeply"),
        (b'{"objects": [{"type": "indicator", "id": "x", "id": "y"}]}', "appears twice"),
    ],
)
def test_malformed_envelopes(client: TestClient, world: World, body: bytes, fragment: str) -> None:
    response = client.post(
        objects_url(world.feed), content=body, headers={**world.watchdog.headers, **POST}
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == TAXII_MEDIA_TYPE
    assert response.json()["http_status"] == "400"
    assert fragment in response.json()["description"]


@pytest.mark.parametrize(
    "element",
    [
        b"1",
        b'"text"',
        b"null",
        b'{"type": 5, "id": []}',
        b'{"type": "indicator", "id": "indicator--1", "spec_version": "2.1"}',
        b'{"type": "indicator", "id": "indicator--00000000-0000-4000-8000-000000000000", '
        b'"spec_version": "2.1", "created": "0000-01-01T00:00:00Z"}',
        b'{"type": "indicator", "id": "indicator--00000000-0000-4000-8000-000000000000", '
        b'"spec_version": "2.1", "created": "99999-01-01T00:00:00Z"}',
    ],
)
def test_bad_objects_fail_one_by_one_with_a_reason(
    client: TestClient, world: World, element: bytes
) -> None:
    body = b'{"objects": [' + element + b"]}"
    response = client.post(
        objects_url(world.feed), content=body, headers={**world.watchdog.headers, **POST}
    )
    assert response.status_code == 202, response.text
    status = response.json()
    assert (status["success_count"], status["failure_count"]) == (0, 1)
    assert status["failures"][0]["message"].startswith("objects[0]: ")


@pytest.mark.parametrize(
    ("in_extension", "change", "fragment"),
    [
        (True, {"category": ["scam"]}, "category ['scam'] is unknown"),
        (True, {"category": {"scam": True}}, "category {'scam': True} is unknown"),
        (True, {"chain": ["BTC"]}, "needs string `chain` and `address`"),
        (True, {"address": 5}, "needs string `chain` and `address`"),
        (False, {"valid_until": []}, "valid_until '[]' is not a UTC timestamp"),
    ],
)
def test_values_of_the_wrong_json_type_fail_alone(
    client: TestClient, world: World, in_extension: bool, change: dict[str, Any], fragment: str
) -> None:
    good = flagged(world, BTC, "BTC")
    bad = copy.deepcopy(good)
    bad["id"] = good["id"].replace(good["id"][-4:], "0000")
    (bad["extensions"][EXTENSION_ID] if in_extension else bad).update(change)
    status = post(client, world.watchdog, world.feed, envelope(good, bad))
    assert (status["success_count"], status["failure_count"]) == (1, 1), status
    assert fragment in status["failures"][0]["message"]


def test_an_extension_naming_its_chain_by_ticker_fails_alone_saying_so(
    client: TestClient, world: World
) -> None:
    good = flagged(world, BTC, "BTC")
    bad = copy.deepcopy(good)
    bad["id"] = good["id"].replace(good["id"][-4:], "0000")
    bad["extensions"][EXTENSION_ID]["chain"] = "BTC"
    status = post(client, world.watchdog, world.feed, envelope(good, bad))
    assert (status["success_count"], status["failure_count"]) == (1, 1), status
    (failure,) = status["failures"]
    assert failure["id"] == bad["id"]
    assert "extension chain 'BTC' is not the CAIP-2 id of a supported chain" in failure["message"]


PROPERTY_EXTENSION = {"extension_type": "property-extension"}
LONG = "9" * 50_000  # a quarter of the tests' max_content_length


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"created_by_ref": "identity--" + LONG}, "created_by_ref 'identity--999"),
        ({"extensions": {EXTENSION_ID: {"extension_type": LONG}}}, "extension_type '999"),
        ({"extensions": {EXTENSION_ID: {**PROPERTY_EXTENSION, "address": LONG}}}, "address '999"),
    ],
)
def test_a_refusal_quotes_a_long_value_cut_short(
    client: TestClient, world: World, change: dict[str, Any], fragment: str
) -> None:
    good = flagged(world, BTC, "BTC")
    bad = {**copy.deepcopy(good), **change, "id": good["id"].replace(good["id"][-4:], "0000")}
    status = post(client, world.watchdog, world.feed, envelope(good, bad))
    assert (status["success_count"], status["failure_count"]) == (1, 1), str(status)[:300]
    (failure,) = status["failures"]
    assert fragment in failure["message"]
    assert "..." in failure["message"]
    assert len(failure["message"]) < 300


def test_a_long_key_named_twice_is_quoted_cut_short(client: TestClient, world: World) -> None:
    key = f'"{LONG}"'.encode()
    body = b'{"objects": [{' + key + b": 1, " + key + b": 2}]}"
    response = client.post(
        objects_url(world.feed), content=body, headers={**world.watchdog.headers, **POST}
    )
    assert response.status_code == 400, response.text[:300]
    description = response.json()["description"]
    assert "the key '999" in description
    assert "appears twice" in description
    assert len(description) < 300


def test_a_long_added_after_is_quoted_cut_short(client: TestClient, world: World) -> None:
    response = client.get(
        objects_url(world.feed), params={"added_after": LONG[:5000]}, headers=world.exchange.headers
    )
    assert response.status_code == 400, response.text[:300]
    description = response.json()["description"]
    assert "added_after '999" in description
    assert len(description) < 300


def test_an_indicator_with_null_extensions_is_read_as_having_none(
    client: TestClient, world: World
) -> None:
    # As stix2 reads it; the address is then the pattern's, on every chain it fits.
    indicator = flagged(world, BTC, "BTC")
    status = post(client, world.watchdog, world.feed, envelope({**indicator, "extensions": None}))
    assert status["success_count"] == 1, status


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"added_after": "99999-01-01T00:00:00Z"}, "added_after"),
        ({"added_after": "2025-02-30T00:00:00Z"}, "out of range"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"next": "x\r\nSet-Cookie: a=b"}, "next"),
        ({"match[version]": "yesterday"}, "version"),
        ({"match[colour]": "red"}, "colour"),
    ],
)
def test_bad_query_parameters(
    client: TestClient, world: World, params: dict[str, str], fragment: str
) -> None:
    response = client.get(objects_url(world.feed), params=params, headers=world.exchange.headers)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["description"]
    assert "set-cookie" not in response.headers


def test_an_oversized_limit_is_clamped(client: TestClient, world: World) -> None:
    response = client.get(
        objects_url(world.feed), params={"limit": "9" * 40}, headers=world.exchange.headers
    )
    assert response.status_code == 200
    assert len(response.json()["objects"]) <= 50  # the test server's page_limit_max


def test_header_injection_in_credentials_is_refused(client: TestClient, world: World) -> None:
    injected = {**world.exchange.headers, "Authorization": "Bearer a.b\tSet-Cookie: x=y"}
    response = client.get("/api/collections/", headers=injected)
    assert response.status_code == 401
    assert "set-cookie" not in response.headers


def test_too_many_objects_in_one_envelope(
    client: TestClient, world: World, settings: Settings
) -> None:
    many = b'{"objects": [' + b",".join([b"{}"] * (settings.max_objects_per_request + 1)) + b"]}"
    response = client.post(
        objects_url(world.feed), content=many, headers={**world.watchdog.headers, **POST}
    )
    assert response.status_code == 413
    assert "per request" in response.json()["description"]


# PostgreSQL refuses text holding NUL. Whatever a client sends with one is refused for what it
# is (a missing resource, a bad key, a bad value), never taken for an outage.
NUL_PATHS = [
    "/api/collections/%00/",
    "/api/collections/%00/objects/",
    "/api/collections/{feed}/objects/indicator--%00/",
    "/api/collections/{feed}/objects/indicator--%00/versions/",
    "/api/collections/{feed}/acknowledgements/indicator--%00/",
    "/api/status/%00/",
]


@pytest.mark.parametrize("path", NUL_PATHS)
def test_a_nul_in_a_path_names_nothing(client: TestClient, world: World, path: str) -> None:
    response = client.get(path.format(feed=world.feed), headers=world.watchdog.headers)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == TAXII_MEDIA_TYPE


def test_deleting_an_object_named_with_a_nul_finds_nothing(
    client: TestClient, world: World
) -> None:
    url = f"/api/collections/{world.feed}/objects/indicator--%00/"
    response = client.delete(url, headers=world.watchdog.headers)
    assert response.status_code == 404, response.text


@pytest.mark.parametrize("credentials", [b"k\x00:secret", b"kid:sec\x00ret"])
def test_a_nul_in_credentials_is_an_unknown_key(
    client: TestClient, world: World, credentials: bytes
) -> None:
    basic = f"Basic {b64encode(credentials).decode()}"
    response = client.get(
        "/api/collections/", headers={"Accept": TAXII_MEDIA_TYPE, "Authorization": basic}
    )
    assert response.status_code == 401, response.text


@pytest.mark.parametrize("field", ["through", "id", "version", "reason"])
def test_a_nul_in_an_acknowledgement_is_refused_by_field(
    client: TestClient, world: World, field: str
) -> None:
    post(client, world.watchdog, world.feed, envelope(flagged(world, BTC, "BTC")))
    page = client.get(objects_url(world.feed), headers=world.exchange.headers)
    served = page.json()["objects"][-1]
    outcome = {"id": served["id"], "version": served["modified"], "outcome": "rejected",
               "reason": "unreadable"}  # fmt: skip
    body: dict[str, Any] = {"through": page.headers["X-TAXII-Date-Added-Last"],
                            "outcomes": [outcome]}  # fmt: skip
    if field == "through":
        body["through"] += "\x00"
    else:
        outcome[field] += "\x00"
    response = client.post(
        f"/api/collections/{world.feed}/acknowledgements/",
        content=json.dumps(body).encode(),
        headers={**world.exchange.headers, **POST},
    )
    assert response.status_code == 400, response.text
    assert field in response.json()["description"]


@pytest.mark.parametrize("params", [{"address": "\x00"}, {"address": BTC, "chain": "BTC\x00"}])
def test_a_nul_in_a_lookup_is_refused(
    client: TestClient, world: World, params: dict[str, str]
) -> None:
    response = client.get("/api/lookup/", params=params, headers=world.exchange.headers)
    assert response.status_code == 400, response.text


def test_receipts_of_an_object_the_feed_does_not_hold_are_not_found(
    client: TestClient, world: World
) -> None:
    missing = "indicator--00000000-0000-4000-8000-000000000000"
    response = client.get(
        f"/api/collections/{world.feed}/acknowledgements/{missing}/",
        headers=world.watchdog.headers,
    )
    assert response.status_code == 404, response.text
    assert missing in response.json()["description"]

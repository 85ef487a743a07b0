"""Bad input of every kind gets a TAXII error body that says what was wrong, never a 500."""

import copy
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

"""Every endpoint for every kind of caller: the status each must get, and that no refusal (and
no answer to an outsider) reveals an object, a collection or another organisation's state."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from feed import accounts
from feed.addresses import parse_address
from feed.indicators import Flag, build_indicator
from feed.stix import Category, build_sighting
from feed.store import Store
from feed.taxii import TAXII_MEDIA_TYPE
from tests.conftest import World

ADDRESS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
ROLES = ("anonymous", "wrong key", "revoked key", "exchange without grant", "exchange",
         "other watchdog", "owner", "admin")  # fmt: skip
ENDPOINTS = (
    "discovery", "api root", "collections", "identity", "lookup", "feed", "objects", "object",
    "versions", "manifest", "add objects", "delete object", "read reports", "report",
    "acknowledgements", "acknowledge", "object acknowledgements", "status",
)  # fmt: skip
# Expected status per endpoint, for: exchange without grant, exchange, other watchdog, owner,
# admin. Anonymous callers and bad or revoked keys get 401 everywhere.
EXPECTED = {
    "discovery": (200, 200, 200, 200, 200),
    "api root": (200, 200, 200, 200, 200),
    "collections": (200, 200, 200, 200, 200),
    "identity": (200, 200, 200, 200, 200),
    "lookup": (200, 200, 200, 200, 200),
    "feed": (404, 200, 404, 200, 200),
    "objects": (404, 200, 404, 200, 200),
    "object": (404, 200, 404, 200, 200),
    "versions": (404, 200, 404, 200, 200),
    "manifest": (404, 200, 404, 200, 200),
    "add objects": (404, 403, 404, 202, 403),
    "delete object": (404, 403, 404, 200, 403),
    "read reports": (404, 403, 404, 200, 200),
    "report": (404, 202, 404, 403, 403),
    "acknowledgements": (404, 200, 404, 200, 200),
    "acknowledge": (404, 200, 404, 403, 403),
    "object acknowledgements": (404, 200, 404, 200, 200),
    "status": (404, 404, 404, 200, 404),
}


@pytest.fixture
def scene(client: TestClient, store: Store, world: World) -> dict[str, Any]:
    """A feed with one indicator, polled by the exchange, with a revoked key for one test."""
    flag = Flag(parse_address(ADDRESS, "ETH"), Category.THEFT)
    indicator = build_indicator(flag, world.watchdog.identity, datetime.now(UTC))
    assert indicator is not None
    post = {**world.watchdog.headers, "Content-Type": TAXII_MEDIA_TYPE}
    added = client.post(
        f"/api/collections/{world.feed}/objects/",
        content=json.dumps({"objects": [indicator]}),
        headers=post,
    )
    served = client.get(f"/api/collections/{world.feed}/objects/", headers=world.exchange.headers)
    with store.writing() as session:
        organisation = accounts.find_organisation(session, world.exchange.id)
        revoked = accounts.create_key(session, organisation)
        accounts.revoke_key(session, revoked.key_id)
    now = datetime.now(UTC)
    return {
        "indicator": indicator,
        "status": added.json()["id"],
        "through": served.headers["X-TAXII-Date-Added-Last"],
        "revoked": revoked.bearer,
        "sighting": lambda identity: build_sighting(
            identity, indicator["id"], count=1, first_seen=now, last_seen=now, now=now
        ),
    }


def headers_for(role: str, world: World, scene: dict[str, Any]) -> dict[str, str]:
    taxii = {"Accept": TAXII_MEDIA_TYPE}
    members = {
        "exchange without grant": world.outsider, "exchange": world.exchange,
        "other watchdog": world.other_watchdog, "owner": world.watchdog, "admin": world.admin,
    }  # fmt: skip
    if role == "anonymous":
        return taxii
    if role == "wrong key":
        return {**taxii, "Authorization": f"Bearer {world.exchange.key_id}.not-the-secret"}
    if role == "revoked key":
        return {**taxii, "Authorization": f"Bearer {scene['revoked']}"}
    return members[role].headers


def request(
    client: TestClient, endpoint: str, role: str, world: World, scene: dict[str, Any]
) -> Any:
    headers = headers_for(role, world, scene)
    post = {**headers, "Content-Type": TAXII_MEDIA_TYPE}
    feed = f"/api/collections/{world.feed}/"
    object_id = scene["indicator"]["id"]
    identity = {"exchange": world.exchange, "owner": world.watchdog}.get(role, world.outsider)
    sighting = json.dumps({"objects": [scene["sighting"](identity.identity)]})
    calls = {
        "discovery": lambda: client.get("/taxii2/", headers=headers),
        "api root": lambda: client.get("/api/", headers=headers),
        "collections": lambda: client.get("/api/collections/", headers=headers),
        "identity": lambda: client.get("/api/identity/", headers=headers),
        "lookup": lambda: client.get("/api/lookup/", params={"address": ADDRESS}, headers=headers),
        "feed": lambda: client.get(feed, headers=headers),
        "objects": lambda: client.get(feed + "objects/", headers=headers),
        "object": lambda: client.get(f"{feed}objects/{object_id}/", headers=headers),
        "versions": lambda: client.get(f"{feed}objects/{object_id}/versions/", headers=headers),
        "manifest": lambda: client.get(feed + "manifest/", headers=headers),
        "add objects": lambda: client.post(
            feed + "objects/", content=json.dumps({"objects": [scene["indicator"]]}), headers=post
        ),
        "delete object": lambda: client.delete(f"{feed}objects/{object_id}/", headers=headers),
        "read reports": lambda: client.get(
            f"/api/collections/{world.reports}/objects/", headers=headers
        ),
        "report": lambda: client.post(
            f"/api/collections/{world.reports}/objects/", content=sighting, headers=post
        ),
        "acknowledgements": lambda: client.get(feed + "acknowledgements/", headers=headers),
        "acknowledge": lambda: client.post(
            feed + "acknowledgements/",
            content=json.dumps({"through": scene["through"]}),
            headers=post,
        ),
        "object acknowledgements": lambda: client.get(
            f"{feed}acknowledgements/{object_id}/", headers=headers
        ),
        "status": lambda: client.get(f"/api/status/{scene['status']}/", headers=headers),
    }
    return calls[endpoint]()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_endpoint_for_every_caller(
    client: TestClient, world: World, scene: dict[str, Any], endpoint: str
) -> None:
    outcomes = {}
    for role in ROLES:
        response = request(client, endpoint, role, world, scene)
        outcomes[role] = response.status_code
        assert response.headers["content-type"].startswith(
            (TAXII_MEDIA_TYPE, "application/json")
        ), (role, endpoint)
        if response.status_code >= 400 or role in ("exchange without grant", "other watchdog"):
            # A refusal may repeat what the request said, and nothing more.
            asked = str(response.request.url)
            for secret in (world.feed, world.reports, scene["indicator"]["id"], "Exchange A"):
                assert secret in asked or secret not in response.text, (role, endpoint, secret)
    expected = dict.fromkeys(ROLES[:3], 401) | dict(zip(ROLES[3:], EXPECTED[endpoint], strict=True))
    assert outcomes == expected

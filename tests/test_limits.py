"""Rate limits: per organisation, shared through the database, answered with 429 and
Retry-After; a client that honours Retry-After gets through."""

import time
from collections.abc import Iterator

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from feed.client import FeedClient
from feed.config import Settings
from feed.errors import RemoteError
from feed.limits import MINUTE
from feed.server import acks, collections, discovery, lookup, objects, sandbox, status
from feed.server.app import create_app
from feed.server.deps import get_access, get_caller
from feed.taxii import TAXII_MEDIA_TYPE, now_micros
from tests.conftest import World
from tests.serving import serving

LIMIT = 5


def in_one_window(seconds: float = 10.0) -> None:
    """Wait, if need be, until the current minute has `seconds` left: requests are counted
    in fixed windows of a minute, and a test's requests on both sides of a window's end
    would be counted apart."""
    left = (MINUTE - now_micros() % MINUTE) / 1_000_000
    if left < seconds:
        time.sleep(left)


@pytest.fixture
def limited(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_per_minute": LIMIT})


@pytest.fixture
def limited_client(limited: Settings, world: World) -> Iterator[TestClient]:
    with TestClient(create_app(limited)) as client:
        yield client


def test_over_the_limit_gets_429_with_retry_after(limited_client: TestClient, world: World) -> None:
    in_one_window()
    answers = [
        limited_client.get("/api/collections/", headers=world.exchange.headers)
        for _ in range(LIMIT + 2)
    ]
    assert [a.status_code for a in answers] == [200] * LIMIT + [429, 429]
    refused = answers[-1]
    assert refused.headers["content-type"] == TAXII_MEDIA_TYPE
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["http_status"] == "429"
    assert f"more than {LIMIT} requests in a minute" in refused.json()["description"]
    # Another organisation has a limit of its own.
    other = limited_client.get("/api/collections/", headers=world.watchdog.headers)
    assert other.status_code == 200


def _calls(dependant: Dependant) -> list[object]:
    return [dependant.call] + [call for d in dependant.dependencies for call in _calls(d)]


def test_every_taxii_endpoint_authenticates_and_counts_its_request_once() -> None:
    """Each endpoint resolves either its caller or its access to a collection (which names
    the caller), never both: each resolution counts the request."""
    modules = (discovery, collections, objects, status, acks, lookup, sandbox)
    routes = [route for module in modules for route in module.router.routes]
    assert len(routes) > 15
    for route in routes:
        assert isinstance(route, APIRoute)
        calls = _calls(route.dependant)
        resolutions = calls.count(get_caller) + calls.count(get_access)
        assert resolutions == 1, f"{route.path} {route.methods}: resolved {resolutions} times"


def test_a_collection_endpoint_counts_each_request_once(
    limited_client: TestClient, world: World
) -> None:
    in_one_window()
    answers = [
        limited_client.get(
            f"/api/collections/{world.feed}/objects/", headers=world.exchange.headers
        )
        for _ in range(LIMIT + 1)
    ]
    assert [a.status_code for a in answers] == [200] * LIMIT + [429]


def exhaust(client: FeedClient) -> None:
    for _ in range(2 * LIMIT):
        client.acknowledgements()


def test_the_limit_holds_across_server_processes(limited: Settings, world: World) -> None:
    waits: list[float] = []
    with serving(limited, workers=2) as url:
        in_one_window()
        client = FeedClient(url, world.exchange.bearer, world.feed, retries=3, sleep=waits.append)
        with client, pytest.raises(RemoteError) as refused:
            exhaust(client)
    # Requests to two processes share one count: the client is told to wait by the server's
    # Retry-After, waits as told (here without sleeping), and gives up after its retries.
    assert refused.value.status == 429
    assert len(waits) == 3
    assert all(1 <= wait <= 60 for wait in waits)


def test_a_wrong_secret_spends_nobody_s_limit(limited_client: TestClient, world: World) -> None:
    # Key ids travel in the clear (Basic's user name): knowing one must not let anyone use up
    # its organisation's requests.
    wrong = {"Accept": TAXII_MEDIA_TYPE, "Authorization": f"Bearer {world.exchange.key_id}.x"}
    for _ in range(LIMIT + 2):
        assert limited_client.get("/api/collections/", headers=wrong).status_code == 401
    right = limited_client.get("/api/collections/", headers=world.exchange.headers)
    assert right.status_code == 200

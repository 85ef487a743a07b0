"""The sandbox as an integrator meets it: taxii2-client pages through the seed feed, the
simulated watchdog's additions, updates and revocations arrive, every response says it is the
sandbox, a reset brings back exactly the seed, and a stopped sandbox leaves nothing behind."""

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from taxii2client.v21 import Collection, Server, as_pages

from bench.servers import free_port
from feed import accounts, publisher
from feed.client import FeedClient
from feed.errors import ConfigurationError
from feed.sandbox import EXCHANGES, HEADER, WATCHDOG, Sandbox
from feed.store import Store
from feed.tables import Role
from tests.conftest import World
from tests.sandboxing import sandbox
from tests.serving import feed_process

EXCHANGE = EXCHANGES[1].key


def sandbox_feed(url: str) -> Collection:
    server = Server(f"{url}/taxii2/", user=EXCHANGE.key_id, password=EXCHANGE.secret)
    return next(c for c in server.api_roots[0].collections if c.alias == "sandbox")


def indicators(feed: Collection, **filters: str) -> list[dict[str, Any]]:
    pages = as_pages(feed.get_objects, per_request=25, type="indicator", **filters)
    return [o for page in pages for o in page.get("objects", [])]


def test_the_simulated_watchdogs_changes_arrive(tmp_path: Path) -> None:
    with sandbox(tmp_path, seed=5, rhythm=0.2, indicators=30) as url:
        feed = sandbox_feed(url)
        seed = {o["id"]: o for o in indicators(feed)}
        assert len(seed) >= 30  # the simulated watchdog may already have added some
        assert all("SYNTHETIC" in o["description"] for o in seed.values())
        chains = {o["extensions"][next(iter(o["extensions"]))]["chain"] for o in seed.values()}
        assert "bip122:000000000019d6689c085ae165831e93" not in chains  # test networks only
        assert "eip155:1" not in chains

        manifest = feed.get_manifest(limit=1000)["objects"]
        last = max(record["date_added"] for record in manifest)
        seen = {"added": False, "updated": False, "revoked": False, "short-lived": False}
        deadline = time.monotonic() + 60
        while not all(seen.values()) and time.monotonic() < deadline:
            time.sleep(0.5)
            for record in feed.get_manifest(added_after=last, limit=1000).get("objects", []):
                last = max(last, record["date_added"])
                (obj,) = feed.get_object(record["id"], version=record["version"])["objects"]
                if obj.get("revoked"):
                    seen["revoked"] = True
                elif obj["id"] in seed:
                    seen["updated"] |= obj["modified"] > seed[obj["id"]]["modified"]
                else:
                    seen["added"] = True
                    seen["short-lived"] |= "valid_until" in obj
        assert all(seen.values()), seen


def test_a_reset_restores_exactly_the_seed(tmp_path: Path) -> None:
    taxii = {"Accept": "application/taxii+json;version=2.1"}
    with sandbox(tmp_path, seed=9, rhythm=600, indicators=12) as url:
        seed = {o["id"]: o["pattern"] for o in indicators(sandbox_feed(url))}
        with FeedClient(url, WATCHDOG.key.bearer, "sandbox") as watchdog:
            summary = publisher.send(watchdog, publisher.prepare(watchdog, [
                (1, {"chain": "bitcoin-testnet", "category": "scam",
                     "address": "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"}),
                (2, {"address": next(iter(seed.values())).split("'")[1], "action": "revoke",
                     "chain": "bitcoin-testnet"}),
            ]))  # fmt: skip
        assert summary.counts["new"] == 1
        assert len(indicators(sandbox_feed(url))) == 13
        auth = (EXCHANGE.key_id, EXCHANGE.secret)
        reset = httpx2.post(f"{url}/sandbox/reset/", auth=auth, headers=taxii)
        assert reset.status_code == 200
        after = indicators(sandbox_feed(url))
        assert {o["id"]: o["pattern"] for o in after} == seed
        assert not any(o.get("revoked") for o in after)


def test_every_response_says_it_is_the_sandbox(tmp_path: Path) -> None:
    with sandbox(tmp_path, indicators=5) as url:
        taxii = {"Accept": "application/taxii+json;version=2.1"}
        auth = (EXCHANGE.key_id, EXCHANGE.secret)
        responses = [
            httpx2.get(f"{url}/healthz"),
            httpx2.get(f"{url}/taxii2/", headers=taxii),  # 401
            httpx2.get(f"{url}/taxii2/", auth=auth),  # 406
            httpx2.get(f"{url}/api/collections/nope/", headers=taxii, auth=auth),
            httpx2.get(f"{url}/taxii2/", headers=taxii, auth=auth),
        ]
        assert [r.status_code for r in responses] == [200, 401, 406, 404, 200]
        assert all(r.headers.get(HEADER) for r in responses)


def test_demo_keys_are_refused_outside_the_sandbox(
    client: TestClient, store: Store, world: World
) -> None:
    with store.writing() as session:
        organisation = accounts.create_organisation(session, "Impostor", Role.EXCHANGE)
        accounts.create_key(session, organisation, fixed=WATCHDOG.key)
    response = client.get(
        "/taxii2/",
        headers={**world.exchange.headers, "Authorization": f"Bearer {WATCHDOG.key.bearer}"},
    )
    assert response.status_code == 401
    assert "only on a sandbox" in response.json()["description"]
    assert HEADER not in response.headers


def test_the_sandbox_never_wipes_a_database_with_real_organisations(
    store: Store, world: World
) -> None:
    with pytest.raises(ConfigurationError, match="holds real organisations"):
        Sandbox(store, seed=1, indicators=1, rhythm=1).reset()
    with store.reading() as session:
        assert len(accounts.list_organisations(session)) == 5


def test_a_stopped_sandbox_leaves_no_scratch_behind(tmp_path: Path) -> None:
    """Stopped as a service manager stops it (SIGTERM), the sandbox removes the directory of
    its default database."""
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    arguments = ["sandbox", "--port", str(port), "--indicators", "5"]
    with feed_process(arguments, port, env) as (_, process):
        [scratch] = tmp_path.glob("feed-sandbox-*")
        assert (scratch / "sandbox.db").exists()
    assert process.returncode == 128 + signal.SIGTERM
    assert not scratch.exists()

"""PostgreSQL going away under a running server: requests get 503 with Retry-After at once
(no hang, no traceback), the server recovers by itself when the database is back, and a
poller that backs off resumes and misses nothing. Pooled connections that died while idle are
replaced before a request sees them."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest

from feed.client import FeedClient
from feed.config import Settings
from feed.mirror import Mirror
from feed.polling import poll
from feed.taxii import TAXII_MEDIA_TYPE
from tests.conftest import World
from tests.proxy import Proxy
from tests.serving import serving
from tests.stix_objects import envelope, indicator
from tests.test_mirror import publish

BTC = "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu"
ETH = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


@contextmanager
def serving_through_proxy(settings: Settings) -> Iterator[tuple[Proxy, str]]:
    """A server whose connections to PostgreSQL pass through a proxy the test can cut."""
    parts = urlsplit(settings.database_url)
    with Proxy((parts.hostname or "127.0.0.1", parts.port or 5432)) as proxy:
        through = settings.database_url.replace(
            parts.netloc.split("@")[-1], f"127.0.0.1:{proxy.port}"
        )
        with serving(settings.model_copy(update={"database_url": through})) as url:
            yield proxy, url


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_outage_gives_503_and_recovery(
    settings: Settings, world: World, tmp_path: Path
) -> None:
    with serving_through_proxy(settings) as (proxy, url):
        publish(url, world, {"chain": "BTC", "address": BTC, "category": "csam"})
        collections = f"{url}/api/collections/"
        proxy.cut()
        started = time.monotonic()
        down = httpx2.get(collections, headers=world.exchange.headers, timeout=30)
        assert time.monotonic() - started < 15
        assert down.status_code == 503
        assert down.headers["Retry-After"].isdigit()
        assert down.headers["content-type"] == TAXII_MEDIA_TYPE
        assert down.json()["http_status"] == "503"
        assert "Traceback" not in down.text

        # A poller started during the outage backs off, then resumes once it is over.
        mirror = Mirror(tmp_path / "mirror.db")
        results: list[int] = []

        def poll_through_the_outage() -> None:
            with FeedClient(url, world.exchange.bearer, world.feed, retries=10) as client:
                results.append(poll(client, mirror).indicators)

        poller = threading.Thread(target=poll_through_the_outage)
        poller.start()
        time.sleep(2)
        assert poller.is_alive()
        proxy.start()
        poller.join(timeout=90)
        assert not poller.is_alive()
        assert results == [1]
        assert httpx2.get(collections, headers=world.exchange.headers).status_code == 200
        publish(url, world, {"chain": "ETH", "address": ETH, "category": "scam"})
        with FeedClient(url, world.exchange.bearer, world.feed) as client:
            assert poll(client, mirror).indicators == 1
        mirror.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_lost_while_a_post_is_stored_gives_503(settings: Settings, world: World) -> None:
    with serving_through_proxy(settings) as (proxy, url):
        objects = f"{url}/api/collections/{world.feed}/objects/"
        body = json.dumps(envelope(indicator(world.watchdog.identity)))
        headers = {**world.watchdog.headers, "Content-Type": TAXII_MEDIA_TYPE}
        proxy.cut_on = b'COPY "object_version"'  # the objects, sent straight through the driver
        lost = httpx2.post(objects, content=body, headers=headers, timeout=30)
        assert lost.status_code == 503
        assert lost.headers["Retry-After"].isdigit()
        assert lost.json()["http_status"] == "503"

        proxy.cut_on = None
        proxy.start()
        stored = httpx2.post(objects, content=body, headers=headers, timeout=30)
        assert stored.status_code == 202
        assert stored.json()["success_count"] == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_connections_that_died_while_idle_are_replaced_unseen(
    settings: Settings, world: World
) -> None:
    with serving_through_proxy(settings) as (proxy, url):
        collections = f"{url}/api/collections/"
        for _ in range(3):  # pooled connections, in use a moment ago
            assert httpx2.get(collections, headers=world.exchange.headers).status_code == 200
        time.sleep(1.5)  # idle long enough to be pinged before the next use
        proxy.cut()  # every pooled connection dies; the database itself stays
        proxy.start()
        for _ in range(3):
            response = httpx2.get(collections, headers=world.exchange.headers, timeout=30)
            assert response.status_code == 200, response.text

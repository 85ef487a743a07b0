"""The server killed with SIGKILL in the middle of large POSTs and started again: each
envelope is stored whole or not at all, and the client's retry of the same envelope
converges, with no duplicates."""

import json
import os
import random
import signal
import threading
from datetime import UTC, datetime

import httpx2
from sqlmodel import col, func, select

from bench.servers import free_port
from feed.addresses import parse_address
from feed.config import Settings
from feed.encodings import base58check_encode
from feed.indicators import Flag, build_indicator
from feed.stix import Category
from feed.store import Store
from feed.tables import ObjectVersion
from feed.taxii import TAXII_MEDIA_TYPE
from tests.conftest import World
from tests.serving import server_process
from tests.soak import SOAK

BATCH = 3000


def envelope(world: World, seed: int) -> bytes:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    objects = []
    for _ in range(BATCH):
        address = parse_address(base58check_encode(b"\x00" + rng.randbytes(20)), "BTC")
        built = build_indicator(Flag(address, Category.THEFT), world.watchdog.identity, now)
        objects.append(built)
    return json.dumps({"objects": objects}).encode()


def post(url: str, body: bytes, headers: dict[str, str], answers: list[int]) -> None:
    """POST, noting the status, or 0 when the connection died first."""
    try:
        answers.append(httpx2.post(url, content=body, headers=headers, timeout=60).status_code)
    except httpx2.TransportError:
        answers.append(0)


def stored(store: Store, world: World) -> tuple[int, int]:
    """(object versions in the feed, distinct (id, version) pairs among them)."""
    with store.reading() as session:
        rows = session.exec(
            select(col(ObjectVersion.object_id), col(ObjectVersion.version)).where(
                col(ObjectVersion.collection_id) == world.feed,
                col(ObjectVersion.type) == "indicator",
            )
        ).all()
        count = session.exec(select(func.count()).select_from(ObjectVersion)).one()
    assert count >= len(rows)
    return len(rows), len(set(rows))


def test_killed_mid_post_stores_all_or_nothing_and_a_retry_converges(
    settings: Settings, store: Store, world: World
) -> None:
    settings = settings.model_copy(update={"max_content_length": 20_000_000})
    headers = {**world.watchdog.headers, "Content-Type": TAXII_MEDIA_TYPE}
    port = free_port()
    randomness = random.Random(11)
    expected = 0
    for round_number in range(3 * SOAK):
        body = envelope(world, round_number)
        url = f"http://127.0.0.1:{port}/api/collections/{world.feed}/objects/"
        with server_process(settings, port=port) as (_, process):
            answers: list[int] = []

            poster = threading.Thread(target=post, args=(url, body, headers, answers))
            poster.start()
            threading.Event().wait(randomness.uniform(0.05, 0.6))
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            poster.join()
        total, distinct = stored(store, world)
        assert total == distinct
        assert total in (expected, expected + BATCH), "a POST was stored in part"
        if answers == [202]:
            assert total == expected + BATCH, "the server said stored, but it is not"
        with server_process(settings, port=port):
            retried = httpx2.post(url, content=body, headers=headers, timeout=120)
        assert retried.status_code == 202
        status = retried.json()
        assert (status["success_count"], status["failure_count"]) == (BATCH, 0)
        expected += BATCH
        assert stored(store, world) == (expected, expected)

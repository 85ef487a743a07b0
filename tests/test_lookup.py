"""The server's index of flagged addresses, on SQLite and PostgreSQL: an address is found
through the index, whatever number of chains it is read on."""

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from feed.addresses import screening_readings
from feed.database import bulk_insert
from feed.lookup import find_flagged
from feed.sandbox import synthetic_address
from feed.store import Store
from feed.tables import FlaggedAddress
from tests.conftest import World

_flags = FlaggedAddress.__table__  # type: ignore[attr-defined]
# A legacy Bitcoin address reads on Bitcoin and on Bitcoin Cash: two keys in two domains.
LEGACY = "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu"


def index_row(number: int, collection_id: str, domain: str, key: str) -> dict[str, Any]:
    """A row of the address index, of version row `number`, flagging `key` in `domain`."""
    return {
        "version_row": number,
        "collection_id": collection_id,
        "object_id": f"indicator--{number:08}",
        "domain": domain,
        "address_key": key,
        "chain": domain,
        "address": key,
        "version": "2026-01-01T00:00:00.000000Z",
        "category": "ransomware",
        "confidence": None,
        "valid_until": None,
        "created_by_ref": None,
    }


@contextmanager
def _plans(store: Store) -> Iterator[list[str]]:
    """The plan of each statement that reads flagged_address while the block runs."""
    plans: list[str] = []

    def explain(connection: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM flagged_address" not in statement:
            return
        postgresql = connection.dialect.name == "postgresql"
        cursor.execute(
            ("EXPLAIN " if postgresql else "EXPLAIN QUERY PLAN ") + statement, parameters
        )
        plans.append("\n".join(str(row[-1]) for row in cursor.fetchall()))

    event.listen(store.engine, "before_cursor_execute", explain)
    try:
        yield plans
    finally:
        event.remove(store.engine, "before_cursor_execute", explain)


def test_an_address_on_several_chains_is_found_through_the_index(
    store: Store, world: World
) -> None:
    readings = screening_readings(LEGACY)
    assert len({reading.domain for reading in readings}) == 3
    rows = [
        index_row(n, world.other_feed, readings[n % 2].domain, f"key{n:08}") for n in range(5000)
    ]
    rows += [index_row(5000 + n, world.feed, r.domain, r.key) for n, r in enumerate(readings)]
    # The same key in a domain not asked for: the index holds keys alone, the domain counts.
    rows.append(index_row(5002, world.feed, "eip155", readings[0].key))
    with store.writing() as session:
        bulk_insert(session.connection(), _flags, rows)
    with store.engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")

    with store.reading() as session, _plans(store) as plans:
        found = find_flagged(session, readings, [world.feed, world.other_feed], now=0)

    assert sorted((row.domain, row.address_key) for row in found) == sorted(
        (reading.domain, reading.key) for reading in readings
    )
    (plan,) = plans
    assert "ix_flagged_address_key" in plan, plan
    assert "Seq Scan" not in plan, plan
    assert "SCAN flagged_address" not in plan, plan


def test_thousands_of_addresses_are_found_in_one_call(store: Store, world: World) -> None:
    """More keys than SQLite takes in one chain of ORs: asked in parts, answered as one."""
    rng = random.Random(5)
    asked = [synthetic_address(rng) for _ in range(1500)]
    held = asked[::100]
    rows = [
        index_row(n, world.feed if n % 2 else world.other_feed, a.domain, a.key)
        for n, a in enumerate(reversed(held))
    ]
    with store.writing() as session:
        bulk_insert(session.connection(), _flags, rows)
    with store.reading() as session:
        found = find_flagged(session, asked, [world.feed, world.other_feed], now=0)
    assert {(row.domain, row.address_key) for row in found} == {(a.domain, a.key) for a in held}
    assert found == sorted(found, key=lambda row: (row.collection_id, row.object_id))

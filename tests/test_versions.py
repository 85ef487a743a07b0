"""Writing object versions on SQLite and PostgreSQL: stamping, latest-version marks and the
address index that follows them."""

import random
import sqlite3
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import col, select

import feed.stored
from feed.addresses import parse_address
from feed.indicators import Flag, build_indicator
from feed.stix import Category
from feed.store import Store
from feed.tables import FlaggedAddress, ObjectVersion
from feed.taxii import Filters, Page
from feed.versions import Candidate, Outcome, add_objects, delete_versions
from tests.conftest import World
from tests.stix_objects import indicator


def test_concurrent_writers_get_distinct_increasing_stamps(store: Store, world: World) -> None:
    committed: list[list[str]] = []  # each batch's ids, in the order the batches commit

    def write(writer: int) -> None:
        for batch in range(5):
            objects = [
                indicator(world.watchdog.identity, number=writer * 100 + batch * 10 + n)
                for n in range(5)
            ]
            with store.writing() as session:
                add_objects(session, world.feed, [Candidate.of(o) for o in objects])
                # The collection stays locked until this commits: the next writer appends after.
                committed.append([o["id"] for o in objects])

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with store.reading() as session:
        stamped = dict(
            session.exec(
                select(ObjectVersion.object_id, ObjectVersion.date_added).where(
                    col(ObjectVersion.collection_id) == world.feed
                )
            ).all()
        )
    assert len(stamped) == len(world.feed_seed) + 3 * 5 * 5
    stamps = [stamped[object_id] for batch in committed for object_id in batch]
    assert stamps == sorted(stamps)  # commit order is stamp order
    assert len(set(stamps)) == len(stamps)
    assert max(stamped[object_id] for object_id in world.feed_seed) < stamps[0]


def latest_versions(store: Store, collection: str) -> dict[str, str]:
    with store.reading() as session:
        rows = session.exec(
            select(ObjectVersion.object_id, ObjectVersion.version).where(
                col(ObjectVersion.collection_id) == collection, col(ObjectVersion.is_latest)
            )
        ).all()
    return dict(rows)


def test_a_new_version_keeps_the_created_of_its_object(store: Store, world: World) -> None:
    first = indicator(world.watchdog.identity)
    moved = {**first, "modified": "2025-02-01T00:00:00Z", "created": "2025-01-15T00:00:00Z"}
    same = {**first, "modified": "2025-03-01T00:00:00Z", "created": "2025-01-01T00:00:00Z"}
    fresh = indicator(world.watchdog.identity)
    fresh_moved = {**fresh, "modified": "2025-04-01T00:00:00Z", "created": "2025-02-01T00:00:00Z"}
    with store.writing() as session:
        add_objects(session, world.feed, [Candidate.of(first)])
    with store.writing() as session:
        outcomes = add_objects(
            session, world.feed, [Candidate.of(o) for o in (moved, same, fresh, fresh_moved)]
        )
    refusal = (
        "created {} is not {}, the created of this object's other versions: a new version "
        "keeps the created of the first"
    )
    assert outcomes == [
        Outcome(
            first["id"],
            "2025-02-01T00:00:00.000000Z",
            refusal.format("2025-01-15T00:00:00Z", "2025-01-01T00:00:00.000Z"),
        ),
        Outcome(first["id"], "2025-03-01T00:00:00.000000Z"),  # the same moment, written apart
        Outcome(fresh["id"], "2025-01-01T00:00:00.000000Z"),
        Outcome(
            fresh["id"],
            "2025-04-01T00:00:00.000000Z",
            refusal.format("2025-02-01T00:00:00Z", "2025-01-01T00:00:00.000Z"),
        ),  # the first version in the same envelope sets it
    ]
    latest = latest_versions(store, world.feed)
    assert latest[first["id"]] == "2025-03-01T00:00:00.000000Z"
    assert latest[fresh["id"]] == "2025-01-01T00:00:00.000000Z"


def test_latest_mark_follows_versions_in_any_order(store: Store, world: World) -> None:
    first = indicator(world.watchdog.identity, modified="2025-01-01T00:00:00Z")
    third = {**first, "modified": "2025-03-01T00:00:00Z"}
    second = {**first, "modified": "2025-02-01T00:00:00Z"}
    with store.writing() as session:
        add_objects(session, world.feed, [Candidate.of(third), Candidate.of(first)])
    with store.writing() as session:
        add_objects(session, world.feed, [Candidate.of(second)])
    assert latest_versions(store, world.feed)[first["id"]] == "2025-03-01T00:00:00.000000Z"

    with store.writing() as session:
        only_third = Filters(
            versions=("2025-03-01T00:00:00.000000Z",), version_selector=frozenset()
        )
        assert delete_versions(session, world.feed, first["id"], only_third) == 1
    assert latest_versions(store, world.feed)[first["id"]] == "2025-02-01T00:00:00.000000Z"


def test_the_latest_version_is_the_newest_in_any_century(store: Store, world: World) -> None:
    # Versions are compared as text: the year 999 must be written 0999 to sort before 2025.
    old = indicator(
        world.watchdog.identity, created="0999-01-01T00:00:00Z", modified="0999-06-01T00:00:00Z"
    )
    new = {**old, "modified": "2025-01-01T00:00:00Z"}
    with store.writing() as session:
        add_objects(session, world.feed, [Candidate.of(new), Candidate.of(old)])
    assert latest_versions(store, world.feed)[old["id"]] == "2025-01-01T00:00:00.000000Z"


def indexed(store: Store, collection: str) -> list[tuple[str, str, str | None, bool | None]]:
    """Each index row's object and version, and the version and latest mark of the object
    version row it names."""
    with store.reading() as session:
        rows = session.exec(
            select(
                FlaggedAddress.object_id,
                FlaggedAddress.version,
                ObjectVersion.version,
                ObjectVersion.is_latest,
            )
            .join(
                ObjectVersion,
                col(ObjectVersion.row) == FlaggedAddress.version_row,
                isouter=True,  # a row left behind shows, with no version
            )
            .where(col(FlaggedAddress.collection_id) == collection)
        ).all()
    return [(object_id, version, stored, latest) for object_id, version, stored, latest in rows]


def flagging_indicator(address: str, author: str) -> dict[str, Any]:
    """An indicator flagging the Bitcoin address given, created and modified on 2025-01-01."""
    flag = Flag(parse_address(address, "BTC"), Category.SANCTIONS)
    built = build_indicator(flag, author, datetime(2025, 1, 1, tzinfo=UTC))
    assert built is not None
    return built


def test_the_address_index_holds_the_latest_version_only(store: Store, world: World) -> None:
    first = flagging_indicator("1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu", world.watchdog.identity)
    second = {**first, "modified": "2025-02-01T00:00:00.000Z"}
    third = {**first, "modified": "2025-03-01T00:00:00.000Z"}
    versions = {
        name: f"2025-{month}-01T00:00:00.000000Z"
        for name, month in (("second", "02"), ("third", "03"))
    }

    def held() -> list[tuple[str, str, str | None, bool | None]]:
        return indexed(store, world.feed)

    with store.writing() as session:  # the newer first, in one envelope
        add_objects(session, world.feed, [Candidate.of(second), Candidate.of(first)])
    assert held() == [(first["id"], versions["second"], versions["second"], True)]
    with store.writing() as session:
        add_objects(session, world.feed, [Candidate.of(third)])
    assert held() == [(first["id"], versions["third"], versions["third"], True)]

    with store.writing() as session:
        only_third = Filters(versions=(versions["third"],), version_selector=frozenset())
        delete_versions(session, world.feed, first["id"], only_third)
    assert held() == [(first["id"], versions["second"], versions["second"], True)]
    with store.writing() as session:
        delete_versions(
            session, world.feed, first["id"], Filters(version_selector=frozenset({"all"}))
        )
    assert held() == []


def test_versions_that_do_not_become_latest_leave_the_address_index_as_it_was(
    store: Store, world: World
) -> None:
    first = flagging_indicator("1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu", world.watchdog.identity)
    newest = {**first, "modified": "2025-03-01T00:00:00.000Z"}
    with store.writing() as session:
        add_objects(session, world.feed, [Candidate.of(newest)])
    held = [(first["id"], "2025-03-01T00:00:00.000000Z", "2025-03-01T00:00:00.000000Z", True)]
    assert indexed(store, world.feed) == held

    older = {**first, "modified": "2025-02-01T00:00:00.000Z"}
    changed = {**newest, "confidence": 10}
    for envelope in ([newest], [older], [changed], [newest, older]):
        with store.writing() as session:
            add_objects(session, world.feed, [Candidate.of(value) for value in envelope])
        assert indexed(store, world.feed) == held, envelope

    revoked = {**first, "modified": "2025-04-01T00:00:00.000Z", "revoked": True}
    flagging = {**first, "modified": "2025-03-15T00:00:00.000Z"}
    with store.writing() as session:  # the newest revokes it: nothing flags the address
        add_objects(session, world.feed, [Candidate.of(flagging), Candidate.of(revoked)])
    assert indexed(store, world.feed) == []


def test_concurrent_writers_of_the_same_objects_leave_the_latest_versions_indexed(
    store: Store, world: World
) -> None:
    addresses = ("1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy")
    firsts = [flagging_indicator(address, world.watchdog.identity) for address in addresses]
    versions = [
        {**first, "modified": f"2025-01-{day:02}T00:00:00.000Z"}
        for first in firsts
        for day in range(2, 10)
    ]
    sent: list[dict[str, Any]] = []

    def write(writer: int) -> None:
        rng = random.Random(writer)
        for _ in range(6):  # newer, older and resent versions, in any order
            envelope = rng.sample(versions, 5)
            with store.writing() as session:
                add_objects(session, world.feed, [Candidate.of(value) for value in envelope])
            sent.extend(envelope)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    newest: dict[str, str] = {}
    for value in sent:
        version = value["modified"].replace(".000Z", ".000000Z")
        newest[value["id"]] = max(newest.get(value["id"], version), version)
    latest = latest_versions(store, world.feed)
    assert {object_id: latest[object_id] for object_id in newest} == newest
    expected = sorted((object_id, version, version, True) for object_id, version in newest.items())
    assert sorted(indexed(store, world.feed)) == expected


def _waiting_for_a_lock(store: Store) -> bool:
    query = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with store.engine.connect() as connection:
        return bool(connection.exec_driver_sql(query).scalar())


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("page", [None, 2], ids=["one page", "pages of two"])
def test_a_writer_sees_what_changed_while_it_waited_for_the_lock(
    store: Store, world: World, page: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A POST finds its objects' stored versions before it queues for the collection's lock:
    what the writer ahead of it commits meanwhile, added or deleted, counts all the same,
    however many pages what was added takes to read."""
    if page is not None:
        monkeypatch.setattr(feed.stored, "_SINCE_PAGE", Page(limit=page, after=None))
    first, second = "2025-01-01T00:00:00.000000Z", "2025-01-02T00:00:00.000000Z"
    sent = {}
    for name, address in (
        ("newer", "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu"),
        ("resent", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"),
        ("older", "1dice8EMZmqKvrGE4Qc9bUFf9PX3xaYDp"),
        ("deleted", "1F1tAaz5x1HUXrCNLbtMDqcw6o5GNn4xqX"),
    ):
        built = flagging_indicator(address, world.watchdog.identity)
        sent[name] = [built, {**built, "modified": "2025-01-02T00:00:00.000Z"}]
    ids = {name: pair[0]["id"] for name, pair in sent.items()}
    with store.writing() as session:
        add_objects(session, world.feed, [Candidate.of(value) for value in sent["deleted"]])

    outcomes: list[Outcome] = []
    failed: list[BaseException] = []

    def behind() -> None:
        envelope = (sent["newer"][1], sent["resent"][1], sent["older"][0], sent["deleted"][1])
        try:
            with store.writing() as waiting:
                candidates = [Candidate.of(value) for value in envelope]
                outcomes.extend(add_objects(waiting, world.feed, candidates))
        except BaseException as error:
            failed.append(error)

    thread = threading.Thread(target=behind)
    with store.writing() as session:  # ahead of it, holding the lock until this commits
        only_second = Filters(versions=(second,), version_selector=frozenset())
        delete_versions(session, world.feed, ids["deleted"], only_second)
        envelope = (sent["newer"][0], sent["resent"][1], sent["older"][1])
        add_objects(session, world.feed, [Candidate.of(value) for value in envelope])
        thread.start()
        deadline = time.monotonic() + 10
        while not _waiting_for_a_lock(store):
            assert time.monotonic() < deadline, "the second writer never waited for the lock"
            time.sleep(0.01)
    thread.join()

    assert failed == []
    assert [outcome.failure for outcome in outcomes] == [None] * 4
    with store.reading() as session:
        stored = session.exec(
            select(ObjectVersion.object_id, ObjectVersion.version, ObjectVersion.is_latest).where(
                col(ObjectVersion.collection_id) == world.feed,
                col(ObjectVersion.object_id).in_(ids.values()),
            )
        ).all()
    assert sorted(stored) == sorted(
        [(object_id, first, False) for name, object_id in ids.items() if name != "resent"]
        + [(object_id, second, True) for object_id in ids.values()]
    )
    assert sorted(indexed(store, world.feed)) == sorted(
        (object_id, second, second, True) for object_id in ids.values()
    )


def test_only_versioned_objects_flag_addresses() -> None:
    """A POST's index rows are written before its collection is locked, which needs their
    versions; every valid indicator has one."""
    author = "identity--00000000-0000-4000-8000-000000000000"
    built = flagging_indicator("1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu", author)
    assert Candidate.of(built).flags
    unversioned = {k: v for k, v in built.items() if k not in ("created", "modified")}
    assert Candidate.of(unversioned).flags == ()


def test_unversioned_objects_are_deduplicated_by_content(store: Store, world: World) -> None:
    sco = {
        "type": "ipv4-addr",
        "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd",
        "value": "198.51.100.3",
    }
    unversioned = Candidate.of(sco)
    with store.writing() as session:
        first = add_objects(session, world.feed, [unversioned])
    with store.writing() as session:
        again = add_objects(session, world.feed, [unversioned])
    assert first == again
    assert first[0].failure is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_resending_a_thousand_objects_binds_what_older_sqlite_allows(
    store: Store, world: World
) -> None:
    """SQLite before 3.32 binds at most 999 values in a statement."""

    @event.listens_for(store.engine, "connect")
    def _older_limit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)

    store.engine.dispose()  # pooled connections were opened without the limit
    objects = [
        indicator(world.watchdog.identity, number=n, modified=f"2025-01-01T00:00:00.{n:03}Z")
        for n in range(1000)
    ]
    for _ in range(2):  # sent, then resent: each version is compared with the one stored
        with store.writing() as session:
            outcomes = add_objects(session, world.feed, [Candidate.of(o) for o in objects])
        assert [outcome.failure for outcome in outcomes] == [None] * len(objects)

"""The store on SQLite and PostgreSQL: statistics, and where requests are counted."""

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from feed.limits import count_request
from feed.store import Store
from feed.tables import RateWindow
from feed.taxii import now_micros
from feed.versions import Candidate, add_objects
from tests.conftest import World
from tests.stix_objects import indicator


def test_the_object_table_is_analysed(store: Store, world: World) -> None:
    with store.writing() as session:
        add_objects(session, world.feed, [Candidate.of(indicator(author=world.watchdog.identity))])
    store.ensure_statistics()
    with store.reading() as session:
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            query = (
                "SELECT 1 FROM pg_stat_user_tables "
                "WHERE relname = 'object_version' AND last_analyze IS NOT NULL"
            )
            assert connection.exec_driver_sql(query).first() is not None
            return
        assert connection.exec_driver_sql(
            "SELECT 1 FROM sqlite_stat1 WHERE tbl = 'object_version'"
        ).first()
        # With statistics, one object is found through the unique key of versions, not by
        # reading the collection, its collection compared as that key holds it.
        plan = connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT body FROM object_version WHERE collection_id || '' = 'c' "
            "AND object_id = 'o' AND is_latest = 1 ORDER BY date_added"
        ).all()
        searched = str(plan)
        assert "USING INDEX uq_object_version_version (<expr>=? AND object_id=?)" in searched, plan


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_analyses_the_objects_again_once_they_have_grown_fourfold(
    store: Store, world: World
) -> None:
    def add(count: int) -> int:
        """Objects as many as the statistics were last taken over, after a POST of `count`."""
        objects = [indicator(world.watchdog.identity, number=n) for n in range(count)]
        with store.writing() as session:
            add_objects(session, world.feed, [Candidate.of(o) for o in objects])
        store.ensure_statistics()
        with store.reading() as session:
            stat = session.connection().exec_driver_sql(
                "SELECT stat FROM sqlite_stat1 WHERE tbl = 'object_version' LIMIT 1"
            )
            return int(stat.scalar_one().split()[0])

    first = add(10)
    assert add(2 * first) == first  # three times as many: the statistics still serve
    assert add(first) == 4 * first


def _log_bytes(store: Store) -> int:
    return Path(f"{store.engine.url.database}-wal").stat().st_size


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_starts_its_log_over_once_it_has_outgrown_its_bound(store: Store) -> None:
    def write(megabytes: int) -> None:
        with store.writing() as session:
            session.connection().exec_driver_sql(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                "INSERT INTO filler SELECT zeroblob(1048576) FROM n",
                (megabytes,),
            )

    with store.writing() as session:
        session.connection().exec_driver_sql("CREATE TABLE filler (bytes BLOB)")
    write(1)
    assert 2**20 < _log_bytes(store) < 2 * 2**20  # a small log is left to grow
    # Past twice the 64 MB it is checkpointed at: what a log no writer could start over holds.
    write(130)
    assert _log_bytes(store) == 0


def _counts(store: Store) -> list[tuple[int, int]]:
    with store.reading() as session, store.counting(session) as counts:
        query = select(RateWindow.minute, RateWindow.count).order_by(col(RateWindow.minute))
        return [(minute, count) for minute, count in counts.execute(query)]


def test_a_request_count_is_kept_and_on_postgresql_seen_at_once(store: Store, world: World) -> None:
    minute = 60_000_000
    with store.reading() as session, store.counting(session) as counts:
        assert count_request(counts, world.exchange.id, 5 * minute, limit=10) is None
        if counts.dialect.name == "postgresql":  # committed by itself
            assert _counts(store) == [(5, 1)]
    assert _counts(store) == [(5, 1)]


def test_a_new_minute_forgets_the_organisations_older_windows(store: Store, world: World) -> None:
    minute = 60_000_000
    with store.reading() as session, store.counting(session) as counts:
        for at in (5, 5, 6):
            count_request(counts, world.exchange.id, at * minute, limit=10)
    assert _counts(store) == [(6, 1)]


def test_requests_are_counted_while_a_writer_holds_the_collection(
    store: Store, world: World
) -> None:
    """A large POST holds its write transaction for tens of milliseconds; counting the other
    requests meanwhile must not wait for it (SQLite has one writer per file)."""
    counted = threading.Event()

    def count() -> None:
        with store.reading() as session, store.counting(session) as counts:
            count_request(counts, world.exchange.id, now_micros(), limit=10)
        counted.set()

    with store.writing() as session:
        add_objects(session, world.feed, [Candidate.of(indicator(world.watchdog.identity))])
        counter = threading.Thread(target=count)
        counter.start()
        assert counted.wait(timeout=5), "the count waited for the writer"
    counter.join()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_request_counts_skip_postgresql_write_ahead_log(store: Store) -> None:
    with store.reading() as session:
        persistence = session.execute(
            text("SELECT relpersistence FROM pg_class WHERE relname = 'rate_window'")
        ).scalar_one()
    assert persistence == "u"  # unlogged: counting a request commits without a disk flush

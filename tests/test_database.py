"""The database layer on SQLite and PostgreSQL: migrations, the bulk insert, SQLite's
durability, and PostgreSQL's URL forms."""

import warnings
from typing import Any

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import URL, make_url, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel

from feed.config import Settings
from feed.database import (
    bulk_insert,
    create_engine_for,
    migrate,
    migrations,
    request_counts_engine,
)
from feed.errors import ConfigurationError
from feed.store import Store
from feed.tables import FlaggedAddress, ObjectVersion
from feed.versions import Candidate, add_objects
from tests.conftest import World
from tests.server.test_lookup import BTC, flagged
from tests.test_lookup import index_row

_objects = ObjectVersion.__table__  # type: ignore[attr-defined]


def test_migrations_match_the_tables(store: Store) -> None:
    migrate(store.engine)  # a second run is a no-op
    with store.engine.connect() as connection, warnings.catch_warnings():
        if connection.dialect.name == "sqlite":
            # SQLAlchemy cannot read SQLite's indexes on expressions back: this one is
            # compared on PostgreSQL, and SQLite's plans through it are tested beside the rest.
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
            warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression")
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_migrations_build_each_index_with_its_declared_method(store: Store) -> None:
    # compare_metadata compares an index's columns, not its method: a B-tree would pass for
    # the address index's hash.
    declared: dict[str, str] = {
        str(index.name): index.dialect_options["postgresql"]["using"] or "btree"
        for table in SQLModel.metadata.tables.values()
        for index in table.indexes
    }
    built = (
        "SELECT i.relname, am.amname FROM pg_index AS x "
        "JOIN pg_class AS i ON i.oid = x.indexrelid JOIN pg_am AS am ON am.oid = i.relam"
    )
    with store.engine.connect() as connection:
        methods: dict[str, str] = dict(connection.exec_driver_sql(built).all())
    assert declared["ix_flagged_address_key"] == "hash"
    assert {name: methods.get(name) for name in declared} == declared


def test_the_address_index_keeps_its_rows_through_a_change_of_key(
    store: Store, world: World
) -> None:
    indicator = flagged(world, BTC, "BTC")
    with store.writing() as session:
        add_objects(session, world.feed, [Candidate.of(indicator)])
    index = "SELECT object_id, address FROM flagged_address"
    keyed = (
        'SELECT f.object_id, v."row" = f.version_row FROM flagged_address AS f '
        "JOIN object_version AS v ON v.object_id = f.object_id AND v.is_latest"
    )
    expected = [(indicator["id"], BTC)]

    with store.engine.begin() as connection:
        command.downgrade(migrations(connection), "0008")
        assert connection.execute(text(index)).all() == expected
    migrate(store.engine)
    with store.engine.connect() as connection:
        assert connection.execute(text(index)).all() == expected
        assert connection.execute(text(keyed)).all() == [(indicator["id"], True)]


def test_a_reports_collection_without_an_alias_is_given_its_feed_s(
    store: Store, world: World
) -> None:
    aliases = text("SELECT feed_id, alias FROM collection WHERE kind = 'reports'")
    with store.engine.begin() as connection:
        command.downgrade(migrations(connection), "0011")
        before: dict[str, str | None] = dict(connection.execute(aliases).all())
    assert before == {world.other_feed: None, world.feed: "hotline-reports"}
    migrate(store.engine)
    with store.engine.connect() as connection:
        after: dict[str, str | None] = dict(connection.execute(aliases).all())
    assert after == {world.other_feed: f"{world.other_feed}-reports", world.feed: "hotline-reports"}


def test_bulk_insert_keeps_every_value_exactly(store: Store, world: World) -> None:
    # Text that COPY's format must escape, booleans, and large integers.
    awkward = 'tab\there, newline\nhere, back\\slash, quote" and \\N, ünïcödé'
    rows: list[dict[str, Any]] = [
        {
            "collection_id": world.feed,
            "object_id": f"note--{index:08d}",
            "type": "note",
            "spec_version": "2.1",
            "version": f"2026-01-01T00:00:00.{index:06d}Z",
            "date_added": 2**62 + index,
            "is_latest": index % 2 == 0,
            "body": f'{{"content": "{awkward} {index}"}}',
        }
        for index in range(3)
    ]
    with store.writing() as session:
        bulk_insert(session.connection(), _objects, rows)
    columns = [_objects.c[name] for name in rows[0]]
    query = select(*columns).where(_objects.c.type == "note").order_by(_objects.c.date_added)
    with store.reading() as session:
        stored = [row._asdict() for row in session.connection().execute(query)]
    assert stored == rows


def test_bulk_insert_keeps_missing_values_and_every_column_type(store: Store, world: World) -> None:
    # The address index has integers of both widths and columns left empty.
    rows: list[dict[str, Any]] = [
        {
            **index_row(2**62 + index, world.feed, "bip122", f"key-{index}"),
            "category": None if index else "csam",
            "confidence": None if index else 2**31 - 1,
            "valid_until": None if index else 2**63 - 1,
            "created_by_ref": None,
        }
        for index in range(2)
    ]
    table = FlaggedAddress.__table__  # type: ignore[attr-defined]
    with store.writing() as session:
        bulk_insert(session.connection(), table, rows)
    query = select(*(table.c[name] for name in rows[0])).order_by(table.c.version_row)
    with store.reading() as session:
        assert [row._asdict() for row in session.connection().execute(query)] == rows


def _version_row(collection_id: str, date_added: int = 1) -> dict[str, Any]:
    return {
        "collection_id": collection_id,
        "object_id": "note--00000001",
        "type": "note",
        "spec_version": "2.1",
        "version": "2026-01-01T00:00:00.000000Z",
        "date_added": date_added,
        "is_latest": True,
        "body": "{}",
    }


def test_bulk_insert_raises_the_drivers_errors_as_sqlalchemys(store: Store, world: World) -> None:
    # As any statement's are: the server maps them, a lost database to 503, and none escapes
    # as a driver's own.
    row = _version_row(world.feed)
    with pytest.raises(IntegrityError, match="body"), store.writing() as session:
        bulk_insert(session.connection(), _objects, [{**row, "body": None}])
    with store.writing() as session:  # the pool's connection is still good
        bulk_insert(session.connection(), _objects, [row])


def test_a_collection_holds_each_version_of_an_object_once(store: Store, world: World) -> None:
    with store.writing() as session:
        bulk_insert(session.connection(), _objects, [_version_row(world.feed)])
        bulk_insert(session.connection(), _objects, [_version_row(world.reports)])
    duplicate = _version_row(world.feed, 2)
    with (
        pytest.raises(IntegrityError, match="uq_object_version_version"),
        store.writing() as session,
    ):
        bulk_insert(session.connection(), _objects, [duplicate])


def test_bulk_insert_of_nothing_does_nothing(store: Store) -> None:
    with store.writing() as session:
        bulk_insert(session.connection(), _objects, [])
    with store.reading() as session:
        assert session.connection().execute(select(_objects.c.row)).first() is None


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_database_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="in-memory SQLite"):
        create_engine_for(Settings(database_url=url))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_on_the_same_host_is_reached_through_its_socket(database_url: str) -> None:
    """The URL form the README gives for a database on the same host."""
    url = make_url(database_url)
    port = url.port or 5432
    if url.host not in ("127.0.0.1", "localhost"):
        pytest.skip(f"the test server is on {url.host}, not on this machine")
    try:  # with no host, libpq goes to the socket in the directory it was built with
        with psycopg.connect(user=url.username, port=port, dbname=url.database) as probe:
            directory = probe.info.host
    except psycopg.OperationalError as error:
        pytest.skip(f"the test server has no Unix socket where libpq looks: {error}")
    if not directory.startswith("/"):
        pytest.skip(f"libpq is told to go to {directory} (PGHOST), not to a socket")
    socket_url = URL.create(
        url.drivername, url.username, url.password, None, port, url.database, {"host": directory}
    )
    engine = create_engine_for(
        Settings(database_url=socket_url.render_as_string(hide_password=False))
    )
    try:
        migrate(engine)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT inet_server_addr()")).scalar() is None
    finally:
        engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_commits_reach_the_disk_before_they_return(store: Store) -> None:
    """synchronous FULL (2) for what the server accepts; NORMAL (1) for rate-limit counts,
    worth nothing after a minute."""
    counts = request_counts_engine(store.engine)
    try:
        for engine, level in ((store.engine, 2), (counts, 1)):
            with engine.connect() as connection:
                assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == level
    finally:
        counts.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_connections_hold_a_larger_cache_only_while_writing(store: Store) -> None:
    def cache(session: Session) -> tuple[int, Any]:
        connection = session.connection()
        size = connection.exec_driver_sql("PRAGMA cache_size").scalar()
        return id(connection.connection.dbapi_connection), size

    with store.reading() as session:
        reader, before = cache(session)
    with store.writing() as session:
        writer, writing = cache(session)
    with store.reading() as session:
        after = cache(session)
    assert writer == reader  # one pooled connection throughout, so the last read sees its cache
    assert (before, writing, after) == (-2000, -65536, (reader, -2000))

"""The database connection: one engine per dialect, migrations, and the few statements whose
fastest form differs between SQLite and PostgreSQL."""

import operator
import time
from collections.abc import Sequence
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    URL,
    Column,
    Connection,
    Dialect,
    Engine,
    Table,
    create_engine,
    event,
    make_url,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError

from feed.config import Settings
from feed.errors import ConfigurationError
from feed.sqlite import WRITE_AHEAD_LOG


def create_engine_for(settings: Settings) -> Engine:
    url = settings.sqlalchemy_url
    if not url.startswith("sqlite"):
        # An unreachable database must fail fast (the server answers 503), not hang: bounded
        # connect and pool waits, and keepalives that notice a connection gone dead.
        engine = create_engine(
            url,
            pool_size=8,
            max_overflow=8,
            pool_timeout=5,
            connect_args={
                "connect_timeout": 5,
                "keepalives": 1,
                "keepalives_idle": 5,
                "keepalives_interval": 2,
                "keepalives_count": 2,
            },
        )
        _ping_when_idle(engine)
        return engine
    database = make_url(url).database
    if not database or database == ":memory:":
        # Each pooled connection would open a database of its own, empty.
        raise ConfigurationError(
            f"database_url {url!r} names an in-memory SQLite database; give a file, "
            "such as sqlite:///feed.db"
        )
    return _sqlite_engine(url)


# A pooled connection back for less than this was working a moment ago. Pinging every one
# before use (pool_pre_ping) cost a round trip per checkout, two per request, a fifth of a get
# by id; one that dies unpinged fails its request with a 503, and the pool then replaces all
# the connections it holds.
_TRUSTED_SECONDS = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a connection that has been idle in the pool before it is used again; a dead one
    is replaced by a new connection instead (SQLAlchemy's DisconnectionError)."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned")  # None: connected just now
        if returned is None or time.monotonic() - returned < _TRUSTED_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError("the pooled connection is gone") from error


def _sqlite_engine(
    url: str | URL, *, setup: Sequence[str] = (), synchronous: str = "FULL"
) -> Engine:
    """A SQLite engine; `setup` is run on each new connection, after the pragmas. FULL: a
    commit that returned is on disk, as PostgreSQL's are: an accepted POST, an acknowledgement
    or an audit entry is not lost to a power cut (NORMAL may lose the last commits)."""
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Transactions are begun explicitly below, so the driver must not begin its own.
        dbapi_connection.isolation_level = None
        for pragma in (
            *WRITE_AHEAD_LOG,
            f"synchronous={synchronous}",
            "foreign_keys=ON",
            "busy_timeout=30000",
        ):
            dbapi_connection.execute(f"PRAGMA {pragma}")
        for statement in setup:
            dbapi_connection.execute(statement)

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        writer = connection.get_execution_options().get("writer", False)
        # On the driver's cursor: through SQLAlchemy's execution, the BEGINs of a GET cost 6%
        # of its instructions.
        cursor = connection.connection.cursor()
        if writer and not connection.connection.info.get(_WRITING_CACHE):
            cursor.execute(f"PRAGMA cache_size=-{_WRITING_CACHE_KB}")
            connection.connection.info[_WRITING_CACHE] = True
        cursor.execute("BEGIN IMMEDIATE" if writer else "BEGIN")

    @event.listens_for(engine, "checkin")
    def _shrink(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None and record.info.pop(_WRITING_CACHE, False):
            dbapi_connection.execute(f"PRAGMA cache_size=-{_DEFAULT_CACHE_KB}")

    return engine


# A POST of 1,000 indicators touches some 4,000 pages, most of them index leaves its random ids
# land on. SQLite's default cache of 2 MB holds a fraction of them, so the transaction read back
# from the file pages it had just evicted (1.2 GB for 50,000 indicators; 0.5 GB with 64 MB), all
# under the file's one write lock. Only connections that write get the larger cache, and they
# hand it back with the connection: readers gain nothing from it, and a process pools several.
_WRITING_CACHE = "writing_cache"
_WRITING_CACHE_KB = 65536
_DEFAULT_CACHE_KB = 2000  # SQLite's own


_REQUEST_COUNTS = (
    "CREATE TABLE IF NOT EXISTS rate_window (organisation_id VARCHAR(36) NOT NULL, "
    "minute BIGINT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (organisation_id, minute))"
)


def request_counts_engine(engine: Engine) -> Engine:
    """Where SQLite counts requests for rate limits: a database file of its own beside the
    main one (`<file>-counts`). SQLite has one writer per file, and a POST holds the main
    file's for tens of milliseconds, which every request's count would wait for. Counts are
    worth nothing after a minute, so the file needs no migrations: its one table is made when
    it is first opened, and a power cut may take the last of them (synchronous NORMAL)."""
    if engine.dialect.name != "sqlite":
        return engine
    counts = engine.url.set(database=f"{engine.url.database}-counts")
    return _sqlite_engine(counts, setup=[_REQUEST_COUNTS], synchronous="NORMAL")


def migrations(connection: Connection) -> Config:
    """Alembic's configuration for our migrations, run over `connection`."""
    config = Config()
    config.set_main_option("script_location", "feed:migrations")
    config.attributes["connection"] = connection
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; safe from several processes). A
    database that cannot be reached or opened is a ConfigurationError saying why."""
    try:
        with engine.begin() as connection:
            command.upgrade(migrations(connection), "head")
    except OperationalError as error:
        where = engine.url.render_as_string(hide_password=True)
        reason = str(error.orig).strip().splitlines()[0]
        raise ConfigurationError(f"cannot use the database {where}: {reason}") from None


def upsert_statement(dialect: str, table: Any) -> Any:
    """INSERT ... ON CONFLICT for a database of `dialect` (SQLite and PostgreSQL share the
    syntax, not the SQLAlchemy construct)."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def bound_list(values: Sequence[Any]) -> str:
    """`values` as one parameter, JSON text, which a statement reads as rows (PostgreSQL's
    json_array_elements, SQLite's json_each). Unlike an IN list, it binds any number of values
    and leaves the plan to the statement; unlike an array, psycopg need not adapt each element
    in Python, which cost a probe of 1,000 ids 2 ms against 0.5."""
    return orjson.dumps(list(values)).decode()


def bulk_insert(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows that carry the same keys, straight through the driver: SQLAlchemy's
    per-row parameter processing costs more than SQLite's insert, and on PostgreSQL COPY is
    twenty times faster than an executemany, which costs a round of the protocol per row.
    COPY's binary form spares both sides escaping and scanning every byte of the bodies: a
    quarter of the instructions storing takes here, a twelfth of PostgreSQL's CPU for objects.
    The driver's errors are raised as SQLAlchemy's, as any statement's are: the server answers
    them alike, and a connection found lost leaves the pool."""
    if not rows:
        return
    # Names come from the table's own columns (a KeyError otherwise), never from input.
    columns = [table.c[name].name for name in rows[0]]
    names = ", ".join(f'"{name}"' for name in columns)
    driver = connection.connection.driver_connection
    assert driver is not None
    dialect = connection.dialect
    try:
        if dialect.name == "postgresql":
            statement = f'COPY "{table.name}" ({names}) FROM STDIN (FORMAT BINARY)'
            values = operator.itemgetter(*columns)  # of several columns: a tuple of values
            types = [_type_name(table.c[name], dialect) for name in columns]
            with driver.cursor() as cursor, cursor.copy(statement) as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(values(row))
        else:
            marks = ", ".join(f":{name}" for name in columns)  # sqlite3 takes the dicts as such
            statement = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'  # noqa: S608
            driver.executemany(statement, rows)
    except dialect.loaded_dbapi.Error as error:
        lost = dialect.is_disconnect(error, connection.connection.dbapi_connection, None)
        if lost:
            connection.invalidate(error)
        raise DBAPIError.instance(
            statement,
            None,
            error,
            dialect.loaded_dbapi.Error,
            connection_invalidated=lost,
            dialect=dialect,
        ) from error


def _type_name(column: Column[Any], dialect: Dialect) -> str:
    """The column's type as the database names it, without its length (`varchar`, `bigint`):
    binary COPY sends each value in the form of exactly that type."""
    return column.type.compile(dialect=dialect).split("(")[0].lower()

"""The database behind the server: sessions for reading, for writing and for counting
requests, the planner's statistics, the cursor key, and status resources."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, delete, text
from sqlmodel import Session, col

from feed.database import request_counts_engine
from feed.errors import ConfigurationError
from feed.sqlite import START_LOG_OVER, log_outgrown
from feed.tables import ServerKey, StatusRecord

_ANALYSED = ("object_version", "flagged_address")
_NEVER_ANALYSED = text(
    "SELECT relname FROM pg_stat_user_tables WHERE relname IN ('object_version', "
    "'flagged_address') AND last_analyze IS NULL AND last_autoanalyze IS NULL"
)


# SQLite has no autovacuum to analyse tables as they grow: the statistics are taken again
# whenever the objects have grown this many times over since they were last taken.
_SQLITE_GROWTH = 4


def _sqlite_analysed_rows(connection: Any) -> int | None:
    """How many objects SQLite's statistics were taken over; None if never."""
    statistics = connection.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
    ).first()
    if statistics is None:
        return None
    stat = connection.exec_driver_sql(
        "SELECT stat FROM sqlite_stat1 WHERE tbl = 'object_version' LIMIT 1"
    ).scalar()
    return None if stat is None else int(stat.split()[0])


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(writer=True)
        # PostgreSQL's READ COMMITTED gives each statement its own snapshot, in a transaction
        # or not: reading outside one spares a BEGIN and a ROLLBACK, two round trips. SQLite
        # has no round trips, and a transaction keeps its statements on one snapshot.
        self._postgresql = engine.dialect.name == "postgresql"
        self._statements = (
            engine.execution_options(isolation_level="AUTOCOMMIT") if self._postgresql else engine
        )
        self._counts = request_counts_engine(engine).execution_options(writer=True)
        self._analysed = False
        self._sqlite_file = None if self._postgresql else engine.url.database

    def dispose(self) -> None:
        """Close every pooled connection (the counts file's too, on SQLite)."""
        self.engine.dispose()
        self._counts.engine.dispose()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with Session(self._statements) as session:
            yield session

    @property
    def counts_beside_callers(self) -> bool:
        """Whether the statement that reads a request's caller can count the request too
        (`limits.counting_too`): on PostgreSQL, not on SQLite's counts file of its own."""
        return self._postgresql

    @contextmanager
    def counting(self, session: Session) -> Iterator[Connection]:
        """Where a request is counted, beside `session` reading the caller: on PostgreSQL that
        session's connection, whose statements each commit by themselves (see `reading`); on
        SQLite a write transaction on the counts file (see `request_counts_engine`), committed
        when the block ends."""
        if self._postgresql:
            yield session.connection()
            return
        with self._counts.begin() as counts:
            yield counts

    @contextmanager
    def writing_one_statement(self) -> Iterator[Session]:
        """For a write made by a single statement: on PostgreSQL outside a transaction, as
        the statement commits by itself (a BEGIN and a COMMIT fewer, two round trips); on
        SQLite, which has no round trips and may make it several statements, `writing`."""
        if not self._postgresql:
            with self.writing() as session:
                yield session
            return
        with Session(self._statements) as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A transaction that may write; committed when the block ends without error."""
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session
        if self._sqlite_file is not None and log_outgrown(self._sqlite_file):
            self._start_log_over()

    def _start_log_over(self) -> None:
        # On the driver's connection: through SQLAlchemy the pragma would run in a transaction,
        # where SQLite refuses to checkpoint.
        connection = self.engine.raw_connection()
        try:
            connection.cursor().execute(START_LOG_OVER)
        finally:
            connection.close()

    def ensure_statistics(self) -> None:
        """Have the database analyse the object tables if it never has, and on SQLite again
        once they have grown fourfold. Without statistics both planners guess: PostgreSQL
        takes a collection of a million objects for a hundred and sorts all of it for each
        page; SQLite reads a whole collection to find one object by id, through the index
        that serves pages. With statistics taken while a feed was small, SQLite reads the
        whole collection for a page of a few hundred chosen ids. PostgreSQL's autovacuum
        keeps statistics fresh once they exist."""
        if self._postgresql:
            if not self._analysed:
                with Session(self._writer) as session, session.begin():
                    connection = session.connection()
                    for table in connection.execute(_NEVER_ANALYSED).scalars().all():
                        connection.exec_driver_sql(f"ANALYZE {table}")
                self._analysed = True
            return
        with self.reading() as session:
            connection = session.connection()
            analysed = _sqlite_analysed_rows(connection)
            objects = connection.exec_driver_sql('SELECT max("row") FROM object_version').scalar()
        if not objects or (analysed is not None and objects < _SQLITE_GROWTH * analysed):
            return
        with Session(self._writer) as session, session.begin():
            for table in _ANALYSED:
                session.connection().exec_driver_sql(f"ANALYZE {table}")

    def cursor_key(self) -> bytes:
        with self.reading() as session:
            key = session.get(ServerKey, "cursor")
            if key is None:
                raise ConfigurationError("the database has no cursor key: run `feed db upgrade`")
            return bytes.fromhex(key.value)


# --- statuses --------------------------------------------------------------------------------


def save_status(session: Session, record: StatusRecord, *, expired_before: int) -> None:
    session.execute(
        delete(StatusRecord).where(col(StatusRecord.request_timestamp) < expired_before)
    )
    session.add(record)


def load_status(
    session: Session, status_id: str, organisation_id: str, *, expired_before: int
) -> StatusRecord | None:
    """A status the organisation created and that has not expired; None otherwise, so that
    another caller's status is indistinguishable from a missing one."""
    record = session.get(StatusRecord, status_id)
    if (
        record is None
        or record.organisation_id != organisation_id
        or record.request_timestamp < expired_before
    ):
        return None
    return record

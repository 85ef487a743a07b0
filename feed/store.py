"""Every query on object versions and statuses.

Writers to a collection are serialised by a lock on its row (PostgreSQL `FOR UPDATE`; on
SQLite every write transaction starts with `BEGIN IMMEDIATE`). `date_added` is stamped inside
that lock, strictly above the collection's last stamp, and the lock is held until commit, so an
object committed later always carries a later `date_added` than anything a poller has seen.
"""

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeAlias

import orjson
from sqlalchemy import (
    ColumnElement,
    Engine,
    Row,
    Select,
    String,
    bindparam,
    delete,
    func,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from feed.database import bulk_insert, request_counts_engine
from feed.errors import ConfigurationError
from feed.lookup import flags, index, reindex, unindex
from feed.stix import SPEC_VERSION, object_version
from feed.tables import Collection, ObjectVersion, ServerKey, StatusRecord
from feed.taxii import Filters, Page, VersionSelector, format_timestamp, now_micros

_CHUNK = 500
# date_added, object_id, version, spec_version, body
PageRow: TypeAlias = Row[Any, Any, Any, Any, Any]
_objects = ObjectVersion.__table__  # type: ignore[attr-defined]
# Where an object's id is known, its collection is compared through an expression no index
# serves, so the only index left is the one that leads with the object id. Statistics taken
# when a collection was small (a new feed on a large database) would otherwise have either
# planner read the collection through its page index, every row of it for each object.
_SAME_COLLECTION = _objects.c.collection_id.concat("")


_ANALYSED = ("object_version", "flagged_address")
_NEVER_ANALYSED = text(
    "SELECT relname FROM pg_stat_user_tables WHERE relname IN ('object_version', "
    "'flagged_address') AND last_analyze IS NULL AND last_autoanalyze IS NULL"
)
# Every id is probed through the unique index (see _SAME_COLLECTION), one at a time: planned
# as a join, estimates can have the whole collection scanned for each envelope.
_PROBE_VERSIONS = text(
    "SELECT wanted.id, v.version, v.is_latest FROM unnest(CAST(:ids AS text[])) AS wanted(id) "
    "CROSS JOIN LATERAL (SELECT version, is_latest FROM object_version "
    "WHERE object_id = wanted.id AND collection_id || '' = :collection OFFSET 0) AS v"
)


def _sqlite_has_statistics(connection: Any, table: str) -> bool:
    statistics = connection.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
    ).first()
    if statistics is None:
        return False
    query = text("SELECT 1 FROM sqlite_stat1 WHERE tbl = :table")
    return connection.execute(query, {"table": table}).first() is not None


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

    def dispose(self) -> None:
        """Close every pooled connection (the counts file's too, on SQLite)."""
        self.engine.dispose()
        self._counts.engine.dispose()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with Session(self._statements) as session:
            yield session

    @contextmanager
    def counting(self, session: Session) -> Iterator[Session]:
        """Where a request is counted, beside `session` reading the caller: on PostgreSQL that
        session, whose statements each commit by themselves (see `reading`); on SQLite a write
        transaction on the counts file (see `request_counts_engine`), committed when the
        block ends."""
        if self._postgresql:
            yield session
            return
        with Session(self._counts, expire_on_commit=False) as counts, counts.begin():
            yield counts

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A transaction that may write; committed when the block ends without error."""
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    def ensure_statistics(self) -> None:
        """Have the database analyse the object tables once if it never has. Without
        statistics both planners guess: PostgreSQL takes a collection of a million objects
        for a hundred and sorts all of it for each page; SQLite reads a whole collection to
        find one object by id, through the index that serves pages."""
        if self._analysed:
            return
        with Session(self._writer) as session, session.begin():
            connection = session.connection()
            if self._postgresql:
                never = connection.execute(_NEVER_ANALYSED).scalars().all()
            else:
                never = [t for t in _ANALYSED if not _sqlite_has_statistics(connection, t)]
            for table in never:
                connection.exec_driver_sql(f"ANALYZE {table}")
        self._analysed = True

    def cursor_key(self) -> bytes:
        with self.reading() as session:
            key = session.get(ServerKey, "cursor")
            if key is None:
                raise ConfigurationError("the database has no cursor key: run `feed db upgrade`")
            return bytes.fromhex(key.value)


# --- reading ---------------------------------------------------------------------------------


def _version_clause(
    selector: frozenset[VersionSelector], versions: bool
) -> ColumnElement[bool] | None:
    if "all" in selector:
        return None
    clauses: list[ColumnElement[bool]] = []
    if "last" in selector:
        clauses.append(_objects.c.is_latest == true())
    if "first" in selector:
        other = aliased(_objects)
        first = (
            select(func.min(other.c.version))
            .where(
                other.c.collection_id == _objects.c.collection_id,
                other.c.object_id == _objects.c.object_id,
            )
            .scalar_subquery()
        )
        clauses.append(_objects.c.version == first)
    if versions:
        clauses.append(_objects.c.version.in_(bindparam("versions", expanding=True)))
    return or_(*clauses)


@cache
def _matching(
    *,
    one_object: bool,
    ids: bool,
    types: bool,
    spec_versions: bool,
    selector: frozenset[VersionSelector],
    versions: bool,
    added_after: bool,
) -> tuple[ColumnElement[bool], ...]:
    """The conditions for one shape of filters, with the values left as parameters (see
    `_parameters`): a shape's statement is built once, as building one cost more than running
    it."""
    collection = bindparam("collection_id", type_=String)
    where = (
        [collection == _SAME_COLLECTION, _objects.c.object_id == bindparam("object_id")]
        if one_object
        else [_objects.c.collection_id == collection]
    )
    for wanted, column in ((ids, "object_id"), (types, "type"), (spec_versions, "spec_version")):
        if wanted:
            where.append(_objects.c[column].in_(bindparam(column + "s", expanding=True)))
    version = _version_clause(selector, versions)
    if version is not None:
        where.append(version)
    if added_after:
        where.append(_objects.c.date_added > bindparam("added_after"))
    return tuple(where)


def _where(
    collection_id: str, filters: Filters, object_id: str | None
) -> tuple[tuple[ColumnElement[bool], ...], dict[str, Any]]:
    where = _matching(
        one_object=object_id is not None,
        ids=bool(filters.ids),
        types=bool(filters.types),
        spec_versions=bool(filters.spec_versions),
        selector=filters.version_selector,
        versions=bool(filters.versions),
        added_after=filters.added_after is not None,
    )
    parameters = {
        "collection_id": collection_id,
        "object_id": object_id,
        "object_ids": list(filters.ids),
        "types": list(filters.types),
        "spec_versions": list(filters.spec_versions),
        "versions": list(filters.versions),
        "added_after": filters.added_after,
    }
    return where, parameters


@cache
def _page_query(where: tuple[ColumnElement[bool], ...], after: bool) -> Select[Any]:
    if after:
        where = (*where, _objects.c.date_added > bindparam("after"))
    return (
        select(
            _objects.c.date_added,
            _objects.c.object_id,
            _objects.c.version,
            _objects.c.spec_version,
            _objects.c.body,
        )
        .where(*where)
        .order_by(_objects.c.date_added)
        .limit(bindparam("limit"))
    )


def read_page(
    session: Session,
    collection_id: str,
    filters: Filters,
    page: Page,
    *,
    object_id: str | None = None,
) -> tuple[Sequence[PageRow], bool]:
    """One page in `date_added` order after the page's cursor, and whether more follow.
    Rows carry date_added, object_id, version, spec_version and the stored body."""
    where, parameters = _where(collection_id, filters, object_id)
    after = page.after.date_added if page.after is not None else None
    query = _page_query(where, after is not None)
    parameters.update(after=after, limit=page.limit + 1)
    rows = session.connection().execute(query, parameters).all()
    return rows[: page.limit], len(rows) > page.limit


def object_exists(session: Session, collection_id: str, object_id: str) -> bool:
    query = select(_objects.c.row).where(
        collection_id == _SAME_COLLECTION, _objects.c.object_id == object_id
    )
    return session.connection().execute(query.limit(1)).first() is not None


# --- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A validated object about to be stored. `version` is its normalised `modified` (else
    `created`); None for objects without either, which are versioned by `date_added`.
    `flags` is what the address index will hold of it, worked out before the collection is
    locked, as writers wait for that lock."""

    object_id: str
    type: str
    spec_version: str
    version: str | None
    value: dict[str, Any]
    raw: bytes
    flags: tuple[dict[str, Any], ...]

    @classmethod
    def of(cls, value: dict[str, Any], raw: bytes) -> "Candidate":
        spec_version = value.get("spec_version", SPEC_VERSION)
        version = object_version(value)
        return cls(
            value["id"], value["type"], spec_version, version, value, raw, tuple(flags(value))
        )


@dataclass(frozen=True)
class Outcome:
    object_id: str
    version: str
    failure: str | None = None


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _lock_collection(session: Session, collection_id: str) -> int:
    query = (
        select(col(Collection.last_date_added))
        .where(col(Collection.id) == collection_id)
        .with_for_update()
    )
    last: int = session.execute(query).scalar_one()
    return last


def _stored_versions(
    session: Session, collection_id: str, object_ids: Sequence[str]
) -> tuple[dict[str, set[str]], dict[str, str]]:
    """The versions stored of each object, and which of them is latest; bodies stay behind."""
    versions: dict[str, set[str]] = {}
    latest: dict[str, str] = {}
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        parameters = {"ids": list(object_ids), "collection": collection_id}
        results = [connection.execute(_PROBE_VERSIONS, parameters)]
    else:
        results = [
            connection.execute(
                select(_objects.c.object_id, _objects.c.version, _objects.c.is_latest).where(
                    collection_id == _SAME_COLLECTION, _objects.c.object_id.in_(chunk)
                )
            )
            for chunk in _chunks(object_ids)
        ]
    for result in results:
        for object_id, version, is_latest in result:
            versions.setdefault(object_id, set()).add(version)
            if is_latest:
                latest[object_id] = version
    return versions, latest


def _stored_values(
    session: Session, collection_id: str, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], Any]:
    """The stored content of these versions, to tell a resent version from a changed one."""
    wanted = set(pairs)
    found: dict[tuple[str, str], Any] = {}
    connection = session.connection()
    for chunk in _chunks(pairs):
        query = select(_objects.c.object_id, _objects.c.version, _objects.c.body).where(
            collection_id == _SAME_COLLECTION,
            _objects.c.object_id.in_({object_id for object_id, _ in chunk}),
            _objects.c.version.in_({version for _, version in chunk}),
        )
        for object_id, version, body in connection.execute(query):
            if (object_id, version) in wanted:
                found[object_id, version] = orjson.loads(body)
    return found


_CHANGED_SAME_VERSION = (
    "a different object with this id and version is already stored; versions are immutable, "
    "so a change needs a later `modified`"
)


def add_objects(
    session: Session, collection_id: str, candidates: Sequence[Candidate]
) -> list[Outcome]:
    """Store every candidate that is new, in one set-based insert; an exact duplicate of a
    stored version succeeds without change. Call inside `Store.writing()`."""
    last = _lock_collection(session, collection_id)
    object_ids = list(dict.fromkeys(candidate.object_id for candidate in candidates))
    versions, latest = _stored_versions(session, collection_id, object_ids)
    resent = [
        (c.object_id, c.version)
        for c in candidates
        if c.version is not None and c.version in versions.get(c.object_id, ())
    ]
    unversioned = [
        (c.object_id, latest[c.object_id])
        for c in candidates
        if c.version is None and c.object_id in latest
    ]
    stored = _stored_values(session, collection_id, resent + unversioned)

    stamp = max(now_micros(), last + 1)
    seen: dict[tuple[str, str], Candidate] = {}
    rows: list[dict[str, Any]] = []
    outcomes: list[Outcome] = []
    for candidate in candidates:
        if candidate.version is None:
            previous = latest.get(candidate.object_id)
            if previous is not None and stored[candidate.object_id, previous] == candidate.value:
                outcomes.append(Outcome(candidate.object_id, previous))
                continue
            version = format_timestamp(stamp)
        else:
            version = candidate.version
        key = (candidate.object_id, version)
        earlier = seen.get(key)
        prior = stored.get(key) if earlier is None else earlier.value
        if prior is not None:
            failure = None if prior == candidate.value else _CHANGED_SAME_VERSION
            outcomes.append(Outcome(candidate.object_id, version, failure))
            continue
        seen[key] = candidate
        rows.append(
            {
                "collection_id": collection_id,
                "object_id": candidate.object_id,
                "type": candidate.type,
                "spec_version": candidate.spec_version,
                "version": version,
                "date_added": stamp,
                "is_latest": False,
                "body": candidate.raw.decode(),
            }
        )
        outcomes.append(Outcome(candidate.object_id, version))
        stamp += 1
    if rows:
        became_latest = _insert_versions(session, collection_id, rows, latest)
        replaced = [row["object_id"] for row in became_latest if row["object_id"] in latest]
        unindex(session, collection_id, replaced)
        index(
            session,
            collection_id,
            [
                (row["object_id"], row["version"], seen[row["object_id"], row["version"]].flags)
                for row in became_latest
            ],
        )
        session.execute(
            update(Collection)
            .where(col(Collection.id) == collection_id)
            .values(last_date_added=stamp - 1)
        )
    return outcomes


def _insert_versions(
    session: Session, collection_id: str, rows: list[dict[str, Any]], latest: dict[str, str]
) -> list[dict[str, Any]]:
    """Insert the rows and move `is_latest` to the newest version of each object; the rows
    that became latest."""
    newest: dict[str, dict[str, Any]] = {}
    for row in rows:
        current = newest.get(row["object_id"])
        if current is None or row["version"] > current["version"]:
            newest[row["object_id"]] = row
    superseded = []
    for object_id, row in newest.items():
        previous = latest.get(object_id)
        if previous is None or row["version"] > previous:
            row["is_latest"] = True
            if previous is not None:
                superseded.append(object_id)
    connection = session.connection()
    for chunk in _chunks(superseded):
        connection.execute(
            update(_objects)
            .where(
                collection_id == _SAME_COLLECTION,
                _objects.c.is_latest == true(),
                _objects.c.object_id.in_(chunk),
            )
            .values(is_latest=False)
        )
    bulk_insert(connection, _objects, rows)
    return [row for row in newest.values() if row["is_latest"]]


def delete_versions(session: Session, collection_id: str, object_id: str, filters: Filters) -> int:
    """Delete the matching versions of one object and re-mark its newest remaining version as
    latest. Returns how many versions were deleted. Call inside `Store.writing()`."""
    _lock_collection(session, collection_id)
    connection = session.connection()
    where, parameters = _where(collection_id, filters, object_id)
    doomed = select(_objects.c.row).where(*where)
    deleted = connection.execute(
        delete(_objects).where(_objects.c.row.in_(doomed)), parameters
    ).rowcount
    if deleted:
        remaining = select(func.max(_objects.c.version)).where(
            collection_id == _SAME_COLLECTION, _objects.c.object_id == object_id
        )
        newest = connection.execute(remaining).scalar()
        latest = None
        if newest is not None:
            newest_row = (
                _objects.c.collection_id == collection_id,
                _objects.c.object_id == object_id,
                _objects.c.version == newest,
            )
            connection.execute(update(_objects).where(*newest_row).values(is_latest=True))
            body = connection.execute(select(_objects.c.body).where(*newest_row)).scalar_one()
            latest = (newest, orjson.loads(body))
        reindex(session, collection_id, object_id, latest)
    return int(deleted)


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

"""Writing object versions: set-based inserts that keep the latest-version mark and the
address index in step, and deletes.

Writers to a collection are serialised by a lock on its row (PostgreSQL `FOR UPDATE`; on
SQLite every write transaction starts with `BEGIN IMMEDIATE`). `date_added` is stamped inside
that lock, strictly above the collection's last stamp, and the lock is held until commit, so an
object committed later always carries a later `date_added` than anything a poller has seen.
"""

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, TypeVar

import orjson
from sqlalchemy import delete, func, select, text, update
from sqlmodel import Session, col

from feed.addresses import Address
from feed.database import bound_list, bulk_insert
from feed.lookup import Latest, flags, index, unindex
from feed.pages import matching
from feed.stix import SPEC_VERSION, object_version
from feed.stored import Stored, lock_collection, stored_under_lock, stored_values
from feed.tables import OBJECTS, Collection, in_collection
from feed.taxii import Filters, format_timestamp, normalise_version, now_micros

_Item = TypeVar("_Item")

# Rows are numbered before they are inserted, so that nothing need be read back: PostgreSQL
# hands out its sequence's numbers to concurrent writers without waiting; SQLite's writers take
# turns, each under the database's write lock, and a row numbered by hand takes the number
# SQLite would have given it.
_NEW_ROWS = {
    # As one array: a row a number took half as long again, through SQLAlchemy's results.
    "postgresql": text(
        "SELECT array_agg(nextval('object_version_row_seq')) FROM generate_series(1, :count)"
    ),
    "sqlite": text('SELECT coalesce(max("row"), 0) FROM object_version'),
}
_NO_LONGER_LATEST = {
    "postgresql": text(
        'UPDATE object_version SET is_latest = false WHERE "row" = ANY(ARRAY('
        "SELECT CAST(value AS bigint) FROM json_array_elements_text(CAST(:rows AS json))))"
    ),
    "sqlite": text(
        "UPDATE object_version SET is_latest = 0 "
        'WHERE "row" IN (SELECT value FROM json_each(:rows))'
    ),
}


class Candidate(NamedTuple):  # a thousand a POST: a tuple builds in a fraction of the time
    """A validated object about to be stored. `version` is its normalised `modified` (else
    `created`); None for objects without either, which are versioned by `date_added`.
    `flags` is what the address index will hold of it, worked out before the collection is
    locked, as writers wait for that lock: nothing for an object without a version (every
    valid indicator has one), so that the index rows of a POST are known before the lock."""

    object_id: str
    type: str
    spec_version: str
    version: str | None
    value: dict[str, Any]
    raw: bytes
    flags: tuple[dict[str, Any], ...]

    @classmethod
    def of(
        cls, value: dict[str, Any], raw: bytes | None = None, checked: Address | None = None
    ) -> "Candidate":
        """`value` to be stored as `raw`, the bytes it was received as; or, for an object
        built here, as its own JSON. `checked` is what `check_object` returned for it."""
        spec_version = value.get("spec_version", SPEC_VERSION)
        version = object_version(value)
        stored = orjson.dumps(value) if raw is None else raw
        return cls(
            value["id"],
            value["type"],
            spec_version,
            version,
            value,
            stored,
            () if version is None else tuple(flags(value, checked)),
        )


class Outcome(NamedTuple):  # one an object, made inside the collection's lock
    object_id: str
    version: str
    failure: str | None = None


_CHANGED_SAME_VERSION = (
    "a different object with this id and version is already stored; versions are immutable, "
    "so a change needs a later `modified`"
)


def add_objects(
    session: Session, collection_id: str, candidates: Sequence[Candidate]
) -> list[Outcome]:
    """Store every candidate that is new, in one set-based insert; an exact duplicate of a
    stored version succeeds without change. Call inside `Store.writing()`."""
    numbers = _new_rows(session, len(candidates))  # one a candidate, taken before the lock
    # Writers wait for the lock, so the address index rows are written before it: those of
    # each object's newest candidate, which nearly always becomes its latest version. Under
    # the lock, the few that did not are taken out again.
    foreseen = _newest_flagging(collection_id, candidates, numbers)
    index(session, foreseen)
    object_ids = list(dict.fromkeys(candidate.object_id for candidate in candidates))
    stored_versions, last = stored_under_lock(session, collection_id, object_ids)
    versions, latest = stored_versions.versions, stored_versions.latest
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
    stored = stored_values(session, collection_id, resent + unversioned)

    stamp = max(now_micros(), last + 1)
    kept = dict(stored_versions.created)  # by object: the created its next versions keep
    seen: dict[tuple[str, str], Candidate] = {}
    rows: list[dict[str, Any]] = []
    outcomes: list[Outcome] = []
    for candidate, number in zip(candidates, numbers, strict=True):
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
        changed = _changed_created(kept, candidate) if candidate.version is not None else None
        if changed is not None:
            outcomes.append(Outcome(candidate.object_id, version, changed))
            continue
        seen[key] = candidate
        rows.append(
            {
                "row": number,
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
    became_latest = _insert_versions(session, rows, stored_versions) if rows else []
    # Only the newest candidate of an object can become its latest version: all that did
    # and flag an address were foreseen.
    latest_rows = {row["row"] for row in became_latest}
    unindex(session, [version.row for version in foreseen if version.row not in latest_rows])
    if rows:
        session.execute(
            update(Collection)
            .where(col(Collection.id) == collection_id)
            .values(last_date_added=stamp - 1)
        )
    return outcomes


def _changed_created(kept: dict[str, str | None], candidate: Candidate) -> str | None:
    """Why `candidate`, a new version, may not be stored: it changes the `created` its
    object's versions keep (STIX forbids it); None when it keeps it or is the object's first,
    whose `created` the versions after it then keep."""
    created = candidate.value.get("created")
    if candidate.object_id not in kept:
        kept[candidate.object_id] = created
        return None
    before = kept[candidate.object_id]
    if created == before or (
        isinstance(created, str)
        and isinstance(before, str)
        and normalise_version(created) == normalise_version(before)
    ):
        return None
    return (
        f"created {created} is not {before}, the created of this object's other versions: "
        "a new version keeps the created of the first"
    )


def _newest_flagging(
    collection_id: str, candidates: Sequence[Candidate], numbers: Sequence[int]
) -> list[Latest]:
    """The newest candidate of each object, where it flags an address, with the row it would
    be stored in, as if it became its object's latest version."""
    newest = _newest_of_each(
        (candidate.object_id, candidate.version, (candidate, number))
        for candidate, number in zip(candidates, numbers, strict=True)
        if candidate.version is not None
    )
    return [
        Latest(collection_id, candidate.object_id, version, number, candidate.flags)
        for version, (candidate, number) in newest.values()
        if candidate.flags
    ]


def _newest_of_each(
    versions: Iterable[tuple[str, str, _Item]],
) -> dict[str, tuple[str, _Item]]:
    """For each object id, its greatest version and what came with it; of equal versions,
    the first."""
    newest: dict[str, tuple[str, _Item]] = {}
    for object_id, version, item in versions:
        current = newest.get(object_id)
        if current is None or version > current[0]:
            newest[object_id] = (version, item)
    return newest


def _insert_versions(
    session: Session, rows: list[dict[str, Any]], stored: Stored
) -> list[dict[str, Any]]:
    """Insert the rows and move `is_latest` (and the address index) to the newest version of
    each object; the rows that became latest."""
    newest = _newest_of_each((row["object_id"], row["version"], row) for row in rows)
    superseded = []
    for object_id, (_, row) in newest.items():
        previous = stored.latest.get(object_id)
        if previous is None or row["version"] > previous:
            row["is_latest"] = True
            if previous is not None:
                superseded.append(stored.latest_row[object_id])
    connection = session.connection()
    if superseded:
        statement = _NO_LONGER_LATEST[connection.dialect.name]
        connection.execute(statement, {"rows": bound_list(superseded)})
        unindex(session, superseded)
    bulk_insert(connection, OBJECTS, rows)
    return [row for _, row in newest.values() if row["is_latest"]]


def _new_rows(session: Session, count: int) -> Sequence[int]:
    """Numbers for `count` new object_version rows, unused by any other."""
    if not count:
        return ()
    connection = session.connection()
    dialect = connection.dialect.name
    taken = connection.execute(_NEW_ROWS[dialect], {"count": count}).scalar_one()
    if dialect == "postgresql":
        numbers: list[int] = taken
        return numbers
    return range(taken + 1, taken + 1 + count)


def delete_versions(session: Session, collection_id: str, object_id: str, filters: Filters) -> int:
    """Delete the matching versions of one object and re-mark its newest remaining version as
    latest. Returns how many versions were deleted. Call inside `Store.writing()`."""
    lock_collection(session, collection_id)
    connection = session.connection()
    object_rows = (in_collection(OBJECTS, collection_id), OBJECTS.c.object_id == object_id)
    indexed = (
        connection.execute(select(OBJECTS.c.row).where(*object_rows, OBJECTS.c.is_latest))
        .scalars()
        .all()
    )
    where, parameters = matching(collection_id, filters, object_id)
    doomed = select(OBJECTS.c.row).where(*where)
    deleted = connection.execute(
        delete(OBJECTS).where(OBJECTS.c.row.in_(doomed)), parameters
    ).rowcount
    if not deleted:
        return 0
    unindex(session, indexed)
    remaining = select(func.max(OBJECTS.c.version)).where(*object_rows)
    newest = connection.execute(remaining).scalar()
    if newest is not None:
        newest_row = (*object_rows, OBJECTS.c.version == newest)
        connection.execute(update(OBJECTS).where(*newest_row).values(is_latest=True))
        row, body = connection.execute(
            select(OBJECTS.c.row, OBJECTS.c.body).where(*newest_row)
        ).one()
        found = flags(orjson.loads(body))
        index(session, [Latest(collection_id, object_id, newest, row, found)])
    return int(deleted)

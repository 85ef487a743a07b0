"""Writing object versions: set-based inserts that keep the latest-version mark and the
address index in step, and deletes.

Writers to a collection are serialised by a lock on its row (PostgreSQL `FOR UPDATE`; on
SQLite every write transaction starts with `BEGIN IMMEDIATE`). `date_added` is stamped inside
that lock, strictly above the collection's last stamp, and the lock is held until commit, so an
object committed later always carries a later `date_added` than anything a poller has seen.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import delete, func, select, text, true, update
from sqlmodel import Session, col

from feed.database import bulk_insert, chunks
from feed.lookup import flags, index, reindex, unindex
from feed.pages import OBJECTS, SAME_COLLECTION, matching
from feed.stix import SPEC_VERSION, object_version
from feed.tables import Collection
from feed.taxii import Filters, format_timestamp, now_micros

# Every id is probed through the unique index (see SAME_COLLECTION), one at a time: planned
# as a join, estimates can have the whole collection scanned for each envelope.
_PROBE_VERSIONS = text(
    "SELECT wanted.id, v.version, v.is_latest FROM unnest(CAST(:ids AS text[])) AS wanted(id) "
    "CROSS JOIN LATERAL (SELECT version, is_latest FROM object_version "
    "WHERE object_id = wanted.id AND collection_id || '' = :collection OFFSET 0) AS v"
)


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
    def of(cls, value: dict[str, Any], raw: bytes | None = None) -> "Candidate":
        """`value` to be stored as `raw`, the bytes it was received as; or, for an object
        built here, as its own JSON."""
        spec_version = value.get("spec_version", SPEC_VERSION)
        version = object_version(value)
        stored = orjson.dumps(value) if raw is None else raw
        return cls(
            value["id"], value["type"], spec_version, version, value, stored, tuple(flags(value))
        )


@dataclass(frozen=True)
class Outcome:
    object_id: str
    version: str
    failure: str | None = None


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
                select(OBJECTS.c.object_id, OBJECTS.c.version, OBJECTS.c.is_latest).where(
                    collection_id == SAME_COLLECTION, OBJECTS.c.object_id.in_(chunk)
                )
            )
            for chunk in chunks(object_ids)
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
    for chunk in chunks(pairs):
        query = select(OBJECTS.c.object_id, OBJECTS.c.version, OBJECTS.c.body).where(
            collection_id == SAME_COLLECTION,
            OBJECTS.c.object_id.in_({object_id for object_id, _ in chunk}),
            OBJECTS.c.version.in_({version for _, version in chunk}),
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
    for chunk in chunks(superseded):
        connection.execute(
            update(OBJECTS)
            .where(
                collection_id == SAME_COLLECTION,
                OBJECTS.c.is_latest == true(),
                OBJECTS.c.object_id.in_(chunk),
            )
            .values(is_latest=False)
        )
    bulk_insert(connection, OBJECTS, rows)
    return [row for row in newest.values() if row["is_latest"]]


def delete_versions(session: Session, collection_id: str, object_id: str, filters: Filters) -> int:
    """Delete the matching versions of one object and re-mark its newest remaining version as
    latest. Returns how many versions were deleted. Call inside `Store.writing()`."""
    _lock_collection(session, collection_id)
    connection = session.connection()
    where, parameters = matching(collection_id, filters, object_id)
    doomed = select(OBJECTS.c.row).where(*where)
    deleted = connection.execute(
        delete(OBJECTS).where(OBJECTS.c.row.in_(doomed)), parameters
    ).rowcount
    if deleted:
        remaining = select(func.max(OBJECTS.c.version)).where(
            collection_id == SAME_COLLECTION, OBJECTS.c.object_id == object_id
        )
        newest = connection.execute(remaining).scalar()
        latest = None
        if newest is not None:
            newest_row = (
                OBJECTS.c.collection_id == collection_id,
                OBJECTS.c.object_id == object_id,
                OBJECTS.c.version == newest,
            )
            connection.execute(update(OBJECTS).where(*newest_row).values(is_latest=True))
            body = connection.execute(select(OBJECTS.c.body).where(*newest_row)).scalar_one()
            latest = (newest, orjson.loads(body))
        reindex(session, collection_id, object_id, latest)
    return int(deleted)

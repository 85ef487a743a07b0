"""What is stored of the objects a write names, read around the collection's lock: their
versions, the latest of each, and the stored content of some versions."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import select, text
from sqlmodel import Session, col

from feed.database import bound_list
from feed.pages import DATE_ADDED, OBJECT_ID, read_page
from feed.tables import Collection
from feed.taxii import Filters, Page

# Each object is found by its id through the unique index (see in_collection), one at a
# time, the ids bound as one list: planned as a join or an IN list, estimates can have the
# whole collection read for each envelope. SQLite takes its statistics once, while a feed is
# small, and then reads a collection of 30,000 for a list of 400 ids.
_PROBE_VERSIONS = {
    "postgresql": text(
        'SELECT wanted.id, v.version, v.is_latest, v."row", v.created '
        "FROM json_array_elements_text(CAST(:ids AS json)) AS wanted(id) "
        'CROSS JOIN LATERAL (SELECT version, is_latest, "row", CASE WHEN is_latest AND :created '
        "THEN CAST(body AS json) ->> 'created' END AS created FROM object_version "
        "WHERE object_id = wanted.id AND collection_id || '' = :collection OFFSET 0) AS v"
    ),
    "sqlite": text(
        'SELECT v.object_id, v.version, v.is_latest, v."row", '
        "CASE WHEN v.is_latest AND :created THEN json_extract(v.body, '$.created') END "
        "FROM json_each(:ids) AS wanted CROSS JOIN object_version AS v "
        "ON v.object_id = wanted.value AND v.collection_id || '' = :collection"
    ),
}
_PROBE_BODIES = {
    "postgresql": text(
        "SELECT wanted.pair ->> 0, wanted.pair ->> 1, v.body "
        "FROM json_array_elements(CAST(:pairs AS json)) AS wanted(pair) "
        "CROSS JOIN LATERAL (SELECT body FROM object_version WHERE object_id = wanted.pair ->> 0 "
        "AND version = wanted.pair ->> 1 AND collection_id || '' = :collection OFFSET 0) AS v"
    ),
    "sqlite": text(
        "SELECT v.object_id, v.version, v.body FROM json_each(:pairs) AS wanted "
        "CROSS JOIN object_version AS v "
        "ON v.object_id = json_extract(wanted.value, '$[0]') "
        "AND v.version = json_extract(wanted.value, '$[1]') "
        "AND v.collection_id || '' = :collection"
    ),
}
_SINCE_PAGE = Page(limit=5000, after=None)


def _last_stamp(session: Session, collection_id: str, *, lock: bool) -> int:
    """The collection's last `date_added`; with `lock`, its row is locked until commit."""
    query = select(col(Collection.last_date_added)).where(col(Collection.id) == collection_id)
    last: int = session.execute(query.with_for_update() if lock else query).scalar_one()
    return last


def lock_collection(session: Session, collection_id: str) -> int:
    """Lock the collection's row until commit; its last `date_added`."""
    return _last_stamp(session, collection_id, lock=True)


@dataclass
class Stored:
    """What is stored of some objects: their versions, and the latest one of each, its row
    and its `created` (None for an object without one), which every later version keeps."""

    versions: dict[str, set[str]] = field(default_factory=dict)
    latest: dict[str, str] = field(default_factory=dict)
    latest_row: dict[str, int] = field(default_factory=dict)
    created: dict[str, str | None] = field(default_factory=dict)


def stored_under_lock(
    session: Session, collection_id: str, object_ids: Sequence[str]
) -> tuple[Stored, int]:
    """Lock the collection and find what is stored of the objects; and the collection's last
    `date_added`, read under the lock. Writers queue for the lock,
    and among ten million versions each id's leaf of the index is rarely in PostgreSQL's
    buffers; so the ids are looked up before it, and under it only those that could have
    changed since: the ones found, which a delete may have changed, and the ones given versions
    since. SQLite's writers hold the database's write lock from their first statement: nothing
    can change there."""
    if session.connection().dialect.name == "sqlite":
        last = lock_collection(session, collection_id)
        return _stored_versions(session, collection_id, object_ids), last
    seen = _last_stamp(session, collection_id, lock=False)  # before the versions are read
    # Only which versions there are: the ones found are read again, `created` too, below.
    found = _stored_versions(session, collection_id, object_ids, created=False)
    last = lock_collection(session, collection_id)
    added = _given_versions_since(session, collection_id, seen) if last != seen else set()
    again = [
        object_id for object_id in object_ids if object_id in found.versions or object_id in added
    ]
    return (_stored_versions(session, collection_id, again) if again else Stored()), last


def _given_versions_since(session: Session, collection_id: str, stamp: int) -> set[str]:
    """The objects of the collection given a version after `date_added` `stamp`: those of the
    writers that held its lock since, read as a poll reads them, a page at a time."""
    given: set[str] = set()
    columns = frozenset({DATE_ADDED, OBJECT_ID})
    more = True
    while more:
        since = Filters(version_selector=frozenset({"all"}), added_after=stamp)
        rows, more = read_page(session, collection_id, since, _SINCE_PAGE, columns=columns)
        given.update(row[OBJECT_ID] for row in rows)
        stamp = rows[-1][DATE_ADDED] if rows else stamp
    return given


def _stored_versions(
    session: Session, collection_id: str, object_ids: Sequence[str], *, created: bool = True
) -> Stored:
    """The versions stored of each object, which of them is latest and, with `created`, the
    latest one's `created` (read from its body)."""
    stored = Stored()
    connection = session.connection()
    dialect = connection.dialect.name
    parameters = {"ids": bound_list(object_ids), "collection": collection_id, "created": created}
    for object_id, version, is_latest, row, kept in connection.execute(
        _PROBE_VERSIONS[dialect], parameters
    ):
        stored.versions.setdefault(object_id, set()).add(version)
        if is_latest:
            stored.latest[object_id], stored.latest_row[object_id] = version, row
            stored.created[object_id] = kept
    return stored


def stored_values(
    session: Session, collection_id: str, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], Any]:
    """The stored content of these versions, to tell a resent version from a changed one."""
    if not pairs:
        return {}
    connection = session.connection()
    dialect = connection.dialect.name
    parameters = {"pairs": bound_list(pairs), "collection": collection_id}
    result = connection.execute(_PROBE_BODIES[dialect], parameters)
    return {(object_id, version): orjson.loads(body) for object_id, version, body in result}

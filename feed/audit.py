"""The audit log: who published, revoked, deleted, reported, acknowledged and read what, and whose
access an operator granted, withdrew or keyed, for operators. Events are written in the
transaction of what they record, so the log never claims what did not happen nor misses what
did. Reads are recorded when a reader's served watermark moves (the same throttled write as
deliveries), so polling stays cheap."""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypedDict

from sqlalchemy import bindparam, insert, or_
from sqlmodel import Session, col, select

from feed.tables import AuditEvent, Collection, Organisation
from feed.taxii import format_timestamp

# Object ids kept per event; the count says how many there were in all.
DETAIL_IDS = 50


class Event(TypedDict):
    """An event's columns (see `event`)."""

    at: int
    organisation_id: str
    action: str
    collection_id: str | None
    count: int
    detail: str


# An event as a plain INSERT of bound values: an ORM object would be read back for its row
# number, one more round trip; and a statement, it can ride in another (see `served`).
INSERT_EVENT = insert(AuditEvent.__table__).values(  # type: ignore[attr-defined]
    {name: bindparam(name) for name in Event.__annotations__}
)


class Action(StrEnum):
    PUBLISH = "publish"
    REVOKE = "revoke"
    DELETE = "delete"
    REPORT = "report"
    ACKNOWLEDGE = "acknowledge"
    READ = "read"
    # Access an operator changed (`feed admin`): the organisation is the one whose it was.
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"
    KEY_ISSUED = "key-issued"
    KEY_REVOKED = "key-revoked"


def event(
    organisation_id: str,
    action: Action,
    collection_id: str | None,
    object_ids: Sequence[str] = (),
    *,
    at: int,
    note: str = "",
) -> Event:
    """An event's values, the parameters of `INSERT_EVENT`."""
    shown = ",".join(object_ids[:DETAIL_IDS])
    more = f" (+{len(object_ids) - DETAIL_IDS} more)" if len(object_ids) > DETAIL_IDS else ""
    return {
        "at": at,
        "organisation_id": organisation_id,
        "action": action,
        "collection_id": collection_id,
        "count": len(object_ids),
        "detail": "; ".join(part for part in (shown + more, note) if part),
    }


def record(session: Session, event: Event) -> None:
    """Write `event` in the session's transaction."""
    session.execute(INSERT_EVENT, event)


@dataclass(frozen=True)
class Entry:
    at: str
    organisation: str
    action: str
    collection: str | None
    collection_alias: str | None
    count: int
    detail: str

    @property
    def collection_shown(self) -> str:
        """The collection as people name it: its alias, else its id; "-" for none."""
        return self.collection_alias or self.collection or "-"


def query(
    session: Session,
    *,
    organisation_id: str | None = None,
    feed_id: str | None = None,
    action: str | None = None,
    since: int | None = None,
    limit: int = 100,
) -> list[Entry]:
    """The newest events first, filtered; those of a feed include its reports collection's."""
    events = (
        select(AuditEvent, Organisation.name, Collection.alias)
        .join(Organisation, col(Organisation.id) == AuditEvent.organisation_id)
        .outerjoin(Collection, col(Collection.id) == AuditEvent.collection_id)
    )
    if organisation_id is not None:
        events = events.where(col(AuditEvent.organisation_id) == organisation_id)
    if feed_id is not None:
        events = events.where(
            or_(col(Collection.id) == feed_id, col(Collection.feed_id) == feed_id)
        )
    if action is not None:
        events = events.where(col(AuditEvent.action) == action)
    if since is not None:
        events = events.where(col(AuditEvent.at) >= since)
    rows = session.exec(events.order_by(col(AuditEvent.row).desc()).limit(limit)).all()
    return [
        Entry(format_timestamp(e.at), name, e.action, e.collection_id, alias, e.count, e.detail)
        for e, name, alias in rows
    ]

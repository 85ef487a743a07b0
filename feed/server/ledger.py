"""What the server writes down about requests, beside their results: how far each subscriber
has been served (for acknowledgements), and the audit log of who published, revoked, reported
and read what."""

from collections.abc import Sequence

from sqlmodel import Session

from feed import audit
from feed.accounts import Access
from feed.audit import Action
from feed.pages import DATE_ADDED, OBJECT_ID, PageRow
from feed.served import poll_record_due, record_served
from feed.store import Store
from feed.tables import Role
from feed.taxii import format_timestamp, now_micros


def delivery_due(access: Access, rows: Sequence[PageRow]) -> bool:
    """Whether this page moves what a subscriber was served (owners and operators are not
    subscribers), or its last poll is old enough to note again."""
    caller = access.caller
    if caller.id == access.collection.owner_id or caller.role == Role.ADMIN:
        return False
    through = int(rows[-1][DATE_ADDED]) if rows else None
    return poll_record_due(access.served, through, now_micros())


def note_delivery(store: Store, access: Access, rows: Sequence[PageRow]) -> None:
    """Record the poll, and in the audit log what it served."""
    caller, collection_id, now = access.caller, access.collection.id, now_micros()
    through = int(rows[-1][DATE_ADDED]) if rows else None
    event = None
    if through is not None:
        ids = [row[OBJECT_ID] for row in rows]
        note = f"served through {format_timestamp(through)}"
        event = audit.event(caller.id, Action.READ, collection_id, ids, at=now, note=note)
    with store.writing_one_statement() as session:
        record_served(session, collection_id, caller.id, through, now, event=event)


def audit_additions(session: Session, access: Access, stored: list[str], revoked: set[str]) -> None:
    caller_id, collection_id, now = access.caller.id, access.collection.id, now_micros()
    if access.collection.feed_id is not None:
        audit.record(session, audit.event(caller_id, Action.REPORT, collection_id, stored, at=now))
        return
    published = [object_id for object_id in stored if object_id not in revoked]
    withdrawn = [object_id for object_id in stored if object_id in revoked]
    for action, ids in ((Action.PUBLISH, published), (Action.REVOKE, withdrawn)):
        if ids:
            audit.record(session, audit.event(caller_id, action, collection_id, ids, at=now))

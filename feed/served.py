"""What each subscriber has been served: its watermark (the `date_added` of the last object a
page served it) and its last poll, written down by each page that moves them, with the
read's audit event in the same write; and read back with the caller when a request is
authenticated, so that a poll which moves nothing stays a read."""

from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import bindparam, case
from sqlmodel import Session

from feed import audit
from feed.database import upsert_statement
from feed.tables import Delivery

# A poll that serves nothing new is recorded at most this often: one write per poll interval,
# not per request.
POLL_RECORD_INTERVAL = 10_000_000


class Served(NamedTuple):
    """How far an organisation has been served a collection, and when it last polled it."""

    through: int
    last_poll: int | None


def poll_record_due(served: Served | None, through: int | None, now: int) -> bool:
    """Whether a poll that served objects up to `through` (None: nothing) needs writing down,
    given what was `served` before (None: never polled): only when the watermark moves or the
    last poll recorded is old, so polling stays a read."""
    return (
        served is None
        or (through is not None and through > served.through)
        or served.last_poll is None
        or now - served.last_poll >= POLL_RECORD_INTERVAL
    )


@cache
def _served_statement(dialect: str) -> Any:
    """Note a poll and its watermark, never moving it back, for `dialect`: one statement, so
    concurrent first polls cannot collide; built once, as building it cost more than running
    it."""
    table = Delivery.__table__  # type: ignore[attr-defined]
    insert = upsert_statement(dialect, table).values(
        collection_id=bindparam("collection_id"),
        organisation_id=bindparam("organisation_id"),
        last_poll=bindparam("now"),
        served_through=bindparam("served"),
        acknowledged_through=0,
    )
    served = insert.excluded.served_through
    return insert.on_conflict_do_update(
        index_elements=["collection_id", "organisation_id"],
        set_={
            "last_poll": insert.excluded.last_poll,
            "served_through": case(
                (table.c.served_through < served, served), else_=table.c.served_through
            ),
        },
    )


@cache
def _served_and_event_statement() -> Any:
    """On PostgreSQL, `_served_statement` writing an audit event too: one statement, which
    commits by itself outside a transaction, where the two in one took four round trips."""
    return _served_statement("postgresql").add_cte(audit.INSERT_EVENT.cte("event"))


def record_served(
    session: Session,
    collection_id: str,
    organisation_id: str,
    through: int | None,
    now: int,
    *,
    event: audit.Event | None = None,
) -> None:
    """Note a poll, and that objects up to `through` were served (never moving back); with
    `event` (`audit.event`, of this organisation and collection), the read's audit event
    too. On PostgreSQL that is one statement, which `Store.writing_one_statement` runs
    outside a transaction."""
    dialect = session.get_bind().dialect.name
    parameters = {
        "collection_id": collection_id,
        "organisation_id": organisation_id,
        "now": now,
        "served": through or 0,
    }
    if event is not None and dialect == "postgresql":
        session.execute(_served_and_event_statement(), {**event, **parameters})
        return
    session.execute(_served_statement(dialect), parameters)
    if event is not None:
        audit.record(session, event)

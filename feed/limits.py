"""Rate limits: a fixed one-minute window of requests per organisation, counted in the
database so that every server process behind a load balancer enforces the same limit."""

from sqlalchemy import delete
from sqlmodel import Session, col

from feed.database import upsert_statement
from feed.errors import TooManyRequests
from feed.tables import RateWindow

MINUTE = 60_000_000


def count_request(session: Session, organisation_id: str, now: int, limit: int) -> int | None:
    """Count one request (refused ones count too); once the organisation is over `limit` in
    the current minute, the seconds until the next window, else None. One statement, so
    concurrent first requests of a minute cannot collide."""
    minute = now // MINUTE
    counted = (
        upsert_statement(session, RateWindow)
        .values(organisation_id=organisation_id, minute=minute, count=1)
        .on_conflict_do_update(
            index_elements=["organisation_id", "minute"],
            set_={"count": col(RateWindow.count) + 1},
        )
        .returning(col(RateWindow.count))
    )
    count: int = session.execute(counted).scalar_one()
    if count == 1:  # a new window: the organisation's older ones are done with
        session.execute(
            delete(RateWindow).where(
                col(RateWindow.organisation_id) == organisation_id,
                col(RateWindow.minute) < minute,
            )
        )
    if count <= limit:
        return None
    return max(1, -(-((minute + 1) * MINUTE - now) // 1_000_000))


def refusal(limit: int, retry_after: int) -> TooManyRequests:
    return TooManyRequests(
        f"more than {limit} requests in a minute; retry in {retry_after} s",
        retry_after=retry_after,
    )

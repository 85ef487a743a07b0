"""Rate limits: a fixed one-minute window of requests per organisation, counted in the
database so that every server process behind a load balancer enforces the same limit."""

from sqlalchemy import Connection, text

from feed.errors import TooManyRequests

MINUTE = 60_000_000
# Run on every request, so written once, in the syntax SQLite and PostgreSQL share: building
# the statement through SQLAlchemy cost more than the database took to run it.
_COUNT = text(
    "INSERT INTO rate_window (organisation_id, minute, count) VALUES (:organisation, :minute, 1) "
    "ON CONFLICT (organisation_id, minute) DO UPDATE SET count = rate_window.count + 1 "
    "RETURNING count"
)
_FORGET_OLDER = text(
    "DELETE FROM rate_window WHERE organisation_id = :organisation AND minute < :minute"
)


def count_request(connection: Connection, organisation_id: str, now: int, limit: int) -> int | None:
    """Count one request (refused ones count too); once the organisation is over `limit` in
    the current minute, the seconds until the next window, else None. One statement, so
    concurrent first requests of a minute cannot collide."""
    minute = now // MINUTE
    params = {"organisation": organisation_id, "minute": minute}
    count: int = connection.execute(_COUNT, params).scalar_one()
    if count == 1:  # a new window: the organisation's older ones are done with
        connection.execute(_FORGET_OLDER, params)
    if count <= limit:
        return None
    return max(1, -(-((minute + 1) * MINUTE - now) // 1_000_000))


def refusal(limit: int, retry_after: int) -> TooManyRequests:
    return TooManyRequests(
        f"more than {limit} requests in a minute; retry in {retry_after} s",
        retry_after=retry_after,
    )

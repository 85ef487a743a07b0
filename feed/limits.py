"""Rate limits: a fixed one-minute window of requests per organisation, counted in the
database so that every server process behind a load balancer enforces the same limit."""

from typing import Any

from sqlalchemy import BigInteger, Connection, Select, bindparam, literal, select, text
from sqlalchemy.dialects import postgresql
from sqlmodel import col

from feed.errors import TooManyRequests
from feed.tables import ApiKey, RateWindow

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


def counting_too(statement: Select[*tuple[Any, ...]]) -> Select[*tuple[Any, ...]]:
    """`statement`, which reads an API key by the bind parameter `key_id`, counting the
    request in the same round trip (PostgreSQL): its last column is then the organisation's
    count in the bind parameter `minute`, or None unless the key is live and its secret's
    hash is the bind parameter `secret_hash` (a wrong secret spends nobody's limit)."""
    table = RateWindow.__table__  # type: ignore[attr-defined]
    live_key = select(
        col(ApiKey.organisation_id), bindparam("minute", type_=BigInteger), literal(1)
    ).where(
        col(ApiKey.id) == bindparam("key_id"),
        col(ApiKey.secret_hash) == bindparam("secret_hash"),
        col(ApiKey.revoked_at).is_(None),
    )
    counted = (
        postgresql.insert(table)
        .from_select(["organisation_id", "minute", "count"], live_key)
        .on_conflict_do_update(
            index_elements=["organisation_id", "minute"], set_={"count": table.c.count + 1}
        )
        .returning(table.c.count)
        .cte("counted")
    )
    return statement.add_cte(counted).add_columns(select(counted.c.count).scalar_subquery())


def count_request(
    connection: Connection,
    organisation_id: str,
    now: int,
    limit: int,
    *,
    counted: int | None = None,
) -> int | None:
    """Count one request (refused ones count too), unless the statement that authenticated it
    did (`counted`, see `counting_too`); once the organisation is over `limit` in the current
    minute, the seconds until the next window, else None. One statement, so concurrent first
    requests of a minute cannot collide."""
    minute = now // MINUTE
    params = {"organisation": organisation_id, "minute": minute}
    count: int = connection.execute(_COUNT, params).scalar_one() if counted is None else counted
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

"""The server's index of flagged addresses: kept in step with the latest version of every
indicator as it is stored or deleted, and queried by the lookup endpoint for exchanges that
keep no mirror. An indicator flags its address while its latest version is not revoked and
`valid_until` has not passed (checked when asked, so expiry needs no job)."""

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, or_, tuple_
from sqlmodel import Session, col, select

from feed.addresses import Address
from feed.database import bulk_insert, chunks
from feed.errors import InvalidObject
from feed.stix import EXTENSION_ID, indicator_addresses
from feed.tables import FlaggedAddress
from feed.taxii import parse_timestamp

_flags = FlaggedAddress.__table__  # type: ignore[attr-defined]


def flags(value: dict[str, Any]) -> list[dict[str, Any]]:
    """What the index holds of one indicator version, less its collection, object id and
    version (`placed` adds them): nothing if it is revoked or flags nothing."""
    if value.get("type") != "indicator" or value.get("revoked"):
        return []
    try:
        readings = indicator_addresses(value)
    except InvalidObject:
        return []
    until = value.get("valid_until")
    extension = value.get("extensions", {}).get(EXTENSION_ID, {})
    return [
        {
            "domain": address.domain,
            "address_key": address.key,
            "chain": address.chain.caip2,
            "address": address.canonical,
            "category": extension.get("category"),
            "confidence": value.get("confidence"),
            "valid_until": None if until is None else parse_timestamp(str(until)),
            "created_by_ref": value.get("created_by_ref"),
        }
        for address in readings
    ]


def placed(
    collection_id: str, object_id: str, version: str, found: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Index rows of `flags` found in one object version."""
    where = {"collection_id": collection_id, "object_id": object_id, "version": version}
    return [{**flag, **where} for flag in found]


def unindex(session: Session, collection_id: str, object_ids: Sequence[str]) -> None:
    """Remove the index rows of these objects."""
    connection = session.connection()
    for chunk in chunks(object_ids):
        connection.execute(
            delete(_flags).where(
                _flags.c.collection_id == collection_id, _flags.c.object_id.in_(chunk)
            )
        )


def index(
    session: Session,
    collection_id: str,
    latest: Iterable[tuple[str, str, Sequence[dict[str, Any]]]],
) -> None:
    """Add the index rows of new latest versions (object id, version, their `flags`) of
    objects that have none."""
    rows = [
        row
        for object_id, version, found in latest
        for row in placed(collection_id, object_id, version, found)
    ]
    bulk_insert(session.connection(), _flags, rows)


def reindex(
    session: Session, collection_id: str, object_id: str, latest: tuple[str, dict[str, Any]] | None
) -> None:
    """Replace one object's index rows after its latest version changed: (version, value), or
    None when no version is left."""
    unindex(session, collection_id, [object_id])
    if latest is not None:
        version, value = latest
        index(session, collection_id, [(object_id, version, flags(value))])


def find_flagged(
    session: Session, addresses: Sequence[Address], collection_ids: Sequence[str], now: int
) -> list[FlaggedAddress]:
    """Index rows flagging any of `addresses` in the given collections, valid at `now`."""
    if not addresses or not collection_ids:
        return []
    keys = list({(a.domain, a.key) for a in addresses})
    query = (
        select(FlaggedAddress)
        .where(
            tuple_(col(FlaggedAddress.domain), col(FlaggedAddress.address_key)).in_(keys),
            col(FlaggedAddress.collection_id).in_(collection_ids),
            or_(
                col(FlaggedAddress.valid_until).is_(None),
                col(FlaggedAddress.valid_until) > now,
            ),
        )
        .order_by(col(FlaggedAddress.collection_id), col(FlaggedAddress.object_id))
    )
    return list(session.exec(query))

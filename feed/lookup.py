"""The server's index of flagged addresses: kept in step with the latest version of every
indicator as it is stored or deleted, and queried by the lookup endpoint for exchanges that
keep no mirror. An indicator flags its address while its latest version is not revoked and
`valid_until` has not passed (checked when asked, so expiry needs no job)."""

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import and_, or_, text
from sqlmodel import Session, col, select

from feed.addresses import Address
from feed.database import bound_list, bulk_insert
from feed.errors import InvalidObject
from feed.stix import extension_properties, indicator_addresses
from feed.tables import FlaggedAddress
from feed.taxii import parse_timestamp

_flags = FlaggedAddress.__table__  # type: ignore[attr-defined]
# The version rows bound as one JSON list (see bound_list), each probed in the key.
_UNINDEX = {
    "postgresql": text(
        "DELETE FROM flagged_address WHERE version_row = ANY(ARRAY("
        "SELECT CAST(value AS bigint) FROM json_array_elements_text(CAST(:rows AS json))))"
    ),
    "sqlite": text(
        "DELETE FROM flagged_address WHERE version_row IN (SELECT value FROM json_each(:rows))"
    ),
}


def flags(value: dict[str, Any], checked: Address | None = None) -> list[dict[str, Any]]:
    """What the index holds of one indicator version, less which version it is (`index`
    adds that): nothing if it is revoked or flags nothing. `checked` is the address of our
    extension in it, where `check_object` has read it already."""
    if value.get("type") != "indicator" or value.get("revoked"):
        return []
    try:
        readings = [checked] if checked is not None else indicator_addresses(value)
    except InvalidObject:
        return []
    until = value.get("valid_until")
    extension = extension_properties(value) or {}
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


class Latest(NamedTuple):  # a thousand a POST: a tuple builds in a third of the time
    """An object version that became its object's latest, and what the index holds of it."""

    collection_id: str
    object_id: str
    version: str
    row: int  # its object_version row
    flags: Sequence[dict[str, Any]]


def unindex(session: Session, version_rows: Sequence[int]) -> None:
    """Remove the index rows of these object versions (by their object_version rows)."""
    if version_rows:
        connection = session.connection()
        statement = _UNINDEX[connection.dialect.name]
        connection.execute(statement, {"rows": bound_list(version_rows)})


def index(session: Session, latest: Iterable[Latest]) -> None:
    """Add the index rows of new latest versions."""
    rows = [
        {
            **flag,
            "version_row": version.row,
            "collection_id": version.collection_id,
            "object_id": version.object_id,
            "version": version.version,
        }
        for version in latest
        for flag in version.flags
    ]
    bulk_insert(session.connection(), _flags, rows)


# Keys one query probes: SQLite parses a chain of ORs as a tree, at most 1,000 deep.
_KEYS_A_QUERY = 200


def find_flagged(
    session: Session, addresses: Sequence[Address], collection_ids: Sequence[str], now: int
) -> list[FlaggedAddress]:
    """Index rows flagging any of `addresses` in the given collections, valid at `now`, by
    collection and object; _KEYS_A_QUERY keys a query, however many addresses."""
    if not addresses or not collection_ids:
        return []
    # One condition per key, not a row-value IN list: SQLite reads the whole table for a
    # list of two pairs or more (an address read on several chains), where each condition
    # is one probe of the index on either database.
    domain, key = col(FlaggedAddress.domain), col(FlaggedAddress.address_key)
    wanted = list(dict.fromkeys((a.domain, a.key) for a in addresses))  # each once, in order
    found: list[FlaggedAddress] = []
    for start in range(0, len(wanted), _KEYS_A_QUERY):
        probes = [and_(domain == d, key == k) for d, k in wanted[start : start + _KEYS_A_QUERY]]
        query = select(FlaggedAddress).where(
            or_(*probes),
            col(FlaggedAddress.collection_id).in_(collection_ids),
            or_(
                col(FlaggedAddress.valid_until).is_(None),
                col(FlaggedAddress.valid_until) > now,
            ),
        )
        found += session.exec(query)
    return sorted(found, key=lambda row: (row.collection_id, row.object_id))

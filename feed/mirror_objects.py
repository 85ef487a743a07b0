"""How one polled object changes the mirror: an identity names a watchdog; an indicator's
latest version replaces the one held, and leaves the active set when revoked or expired;
anything else is ignored. Whatever server a feed comes from, an object the mirror cannot
keep fails alone, with the reason it is rejected, and the version held stays as it was."""

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from feed.errors import FeedError, InvalidObject, quoted
from feed.stix import extension_properties, indicator_addresses
from feed.taxii import MAX_REASON, is_object_id, normalise_version


@dataclass
class Applied:
    """What one page changed in the mirror, and the objects it could not take, with why."""

    objects: int = 0
    indicators: int = 0
    left: int = 0
    ignored: int = 0
    rejected: list[dict[str, str]] = field(default_factory=list)


def _named(value: dict[str, Any], object_type: str) -> bool:
    """Whether `value` has an id of `object_type`, by which the mirror can keep it."""
    object_id = value.get("id")
    return (
        isinstance(object_id, str)
        and is_object_id(object_id)
        and object_id.startswith(f"{object_type}--")
    )


def _check_kept_properties(value: dict[str, Any]) -> None:
    """Raise InvalidObject for the first property the mirror keeps or acts on that has not
    the type it needs. Whatever server a feed comes from, such an object fails alone, and
    the version the mirror holds stays as it was."""
    revoked, confidence, author = (
        value.get("revoked"),
        value.get("confidence"),
        value.get("created_by_ref"),
    )
    if revoked is not None and not isinstance(revoked, bool):
        raise InvalidObject(f"revoked {quoted(revoked)} is not true or false")
    if confidence is not None and (
        isinstance(confidence, bool)
        or not isinstance(confidence, int)
        or not 0 <= confidence <= 100
    ):
        raise InvalidObject(f"confidence {quoted(confidence)} is not a whole number from 0 to 100")
    if author is not None and not (isinstance(author, str) and is_object_id(author)):
        raise InvalidObject(f"created_by_ref {quoted(author)} is not a STIX identifier")


def apply_object(
    db: sqlite3.Connection, collection_id: str, value: dict[str, Any], now: str, applied: Applied
) -> None:
    """Apply one polled object, a JSON object, to the mirror's tables in `db`, inside the
    transaction of its page, and count what it did in `applied`."""
    if value.get("type") == "identity" and _named(value, "identity"):
        if not isinstance(value.get("name"), str):
            return
        db.execute(
            "INSERT OR REPLACE INTO identities (id, name) VALUES (?, ?)",
            (value["id"], value["name"]),
        )
        return
    if value.get("type") != "indicator":
        return
    if not _named(value, "indicator"):  # nor could it be reported by its id
        applied.ignored += 1
        return
    try:
        version = normalise_version(str(value.get("modified", value.get("created"))))
    except FeedError:
        applied.ignored += 1
        return
    try:
        readings = indicator_addresses(value)
        _check_kept_properties(value)
        until = value.get("valid_until")
        valid_until = None if until is None else normalise_version(str(until), field="valid_until")
    except FeedError as error:  # InvalidObject's reasons, and a bad valid_until's
        applied.ignored += 1
        applied.rejected.append(
            {"id": value["id"], "version": version, "outcome": "rejected",
             "reason": error.description[:MAX_REASON]}
        )  # fmt: skip
        return
    if not readings:
        applied.ignored += 1
        return
    held = db.execute(
        "SELECT version, active FROM indicators WHERE collection_id = ? AND id = ? LIMIT 1",
        (collection_id, value["id"]),
    ).fetchone()
    if held is not None and held[0] >= version:
        return  # latest version wins; a replayed page changes nothing
    if value.get("revoked"):
        active, left_at, reason = 0, version, "revoked"
    elif valid_until is not None and valid_until <= now:
        active, left_at, reason = 0, valid_until, "expired"
    else:
        active, left_at, reason = 1, None, None
    if held is not None and held[1] and not active:
        applied.left += 1
    db.execute(
        "DELETE FROM indicators WHERE collection_id = ? AND id = ?",
        (collection_id, value["id"]),
    )
    category = (extension_properties(value) or {}).get("category")
    db.executemany(
        "INSERT INTO indicators VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                collection_id, value["id"], a.domain, a.key, version,
                value.get("created_by_ref"), a.chain.caip2, a.canonical, category,
                value.get("confidence"), valid_until, active, left_at, reason,
            )
            for a in readings
        ],
    )  # fmt: skip
    applied.indicators += 1

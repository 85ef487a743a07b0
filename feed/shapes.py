"""The common shape of a posted object, checked without stix2: a flagged-address indicator with
only standard properties and a plain wallet pattern. stix2 validates about 2,600 indicators a
second, most of it in its pattern grammar; this check covers the shape publishers send in bulk
and answers None for anything else, which then goes through stix2 in full.

The rules are STIX 2.1's for these properties, and a differential test holds this check to
stix2's verdicts. Pure."""

import re
import uuid
from datetime import datetime
from functools import lru_cache
from typing import Any

from feed.errors import quoted

# A lower-case RFC 4122 UUID (its variant digit is 8, 9, a or b).
CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
WALLET = re.compile(r"^\[cryptocurrency-wallet:value = '[0-9A-Za-z:?=]+'\]$")
UUID_LENGTH = 38  # with the "--" after the type
LONGEST_TIMESTAMP = len("2026-01-01T00:00:00.123456789Z")
STRINGS = ("name", "description", "pattern_version", "lang")
STRING_LISTS = ("labels", "indicator_types")
REFERENCE_KEYS = frozenset({"source_name", "description", "url", "external_id"})
KNOWN = frozenset(
    {
        "type", "spec_version", "id", "created", "modified", "created_by_ref", "revoked",
        "labels", "confidence", "lang", "external_references", "object_marking_refs",
        "extensions", "name", "description", "indicator_types", "pattern", "pattern_type",
        "pattern_version", "valid_from", "valid_until",
    }
)  # fmt: skip


class Unfit(Exception):
    """The object breaks a STIX rule that stix2 enforces too; the message says which."""


class _Other(Exception):
    """Not the common shape (stix2 coerces odd types and lists): check it in full."""


def _identifier(value: Any, prefix: str, field: str) -> None:
    if not isinstance(value, str):
        raise _Other
    if not value.startswith(prefix + "--"):
        raise Unfit(f"{field} must be an identifier of a {prefix}")
    if CANONICAL_UUID.match(value, len(prefix) + 2):
        return  # as publishers write them; anything else is parsed to say what is wrong
    try:
        parsed = uuid.UUID(value[len(prefix) + 2 :])
    except ValueError:
        raise Unfit(f"{field} {quoted(value)} does not end in a UUID") from None
    if parsed.variant != uuid.RFC_4122:
        raise Unfit(f"{field} {quoted(value)} does not end in an RFC 4122 UUID")
    if str(parsed) != value[len(prefix) + 2 :]:
        raise _Other


@lru_cache(maxsize=256)  # a batch names a few authors and markings, each a thousand times
def _canonical_reference(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "--") and bool(CANONICAL_UUID.match(value, len(prefix) + 2))


def _reference(value: Any, prefix: str, field: str) -> None:
    # Only texts of an identifier's length are looked up, so the cache holds no long ones.
    plausible = isinstance(value, str) and len(value) == len(prefix) + UUID_LENGTH
    if not (plausible and _canonical_reference(value, prefix)):
        _identifier(value, prefix, field)


def _timestamp(value: Any, field: str) -> datetime:
    if not isinstance(value, str) or len(value) > LONGEST_TIMESTAMP:
        raise _Other  # nanoseconds at most; the cache below holds no long texts
    try:
        moment = _moment(value)
    except ValueError:
        raise Unfit(f"{field} {value!r} is not a valid date and time") from None
    if moment is None:
        raise _Other
    return moment


# The objects of one batch mostly share their timestamps, and matching the form alone takes
# as long as a dozen lookups here.
@lru_cache(maxsize=4096)
def _moment(text: str) -> datetime | None:
    """The moment of a timestamp in the form publishers write; None for another form."""
    if not TIMESTAMP.match(text):
        return None
    return datetime.fromisoformat(text[:-1] + "+00:00")


def _strings(value: Any) -> bool:
    """A non-empty list of strings, as publishers write lists."""
    return type(value) is list and bool(value) and all(type(v) is str for v in value)


def _references(value: Any) -> None:
    if not isinstance(value, list) or not value:
        raise _Other
    for reference in value:
        if not isinstance(reference, dict) or not reference.keys() <= REFERENCE_KEYS:
            raise _Other
        if not all(isinstance(v, str) for v in reference.values()):
            raise _Other
        if "source_name" not in reference:
            raise Unfit("every external reference needs a source_name")
        if not reference.keys() & (REFERENCE_KEYS - {"source_name"}):
            raise Unfit("an external reference needs a description, url or external_id")


def common_indicator(value: dict[str, Any], extension_id: str) -> bool | None:
    """True when `value` is a valid indicator of the common shape; None when it is of another
    shape (check it in full); raises Unfit, saying why, when it breaks a rule."""
    if value.get("type") != "indicator" or not value.keys() <= KNOWN:
        return None
    extensions = value.get("extensions", {})
    if not isinstance(extensions, dict) or not extensions.keys() <= {extension_id}:
        return None
    if value.get("pattern_type") != "stix" or not WALLET.match(str(value.get("pattern", ""))):
        return None
    try:
        _check(value)
    except _Other:
        return None
    return True


def _check(value: dict[str, Any]) -> None:
    if value.get("spec_version") != "2.1":
        raise _Other  # refused before this check, by check_object
    _identifier(value.get("id"), "indicator", "id")
    created = _timestamp(value.get("created"), "created")
    if _timestamp(value.get("modified"), "modified") < created:
        raise Unfit("modified must not be earlier than created")
    valid_from = _timestamp(value.get("valid_from"), "valid_from")
    if "valid_until" in value and _timestamp(value["valid_until"], "valid_until") <= valid_from:
        raise Unfit("valid_until must be later than valid_from")
    if "created_by_ref" in value:
        _reference(value["created_by_ref"], "identity", "created_by_ref")
    # Exactly these types (no subclasses, which stix2 would coerce), a missing field passing.
    for field in STRINGS:
        if type(value.get(field, "")) is not str:
            raise _Other
    for field in STRING_LISTS:
        if field in value and not _strings(value[field]):
            raise _Other
    if type(value.get("revoked", False)) is not bool:
        raise _Other
    if "confidence" in value:
        if type(value["confidence"]) is not int:
            raise _Other
        if not 0 <= value["confidence"] <= 100:
            raise Unfit("confidence must be an integer from 0 to 100")
    if "external_references" in value:
        _references(value["external_references"])
    if "object_marking_refs" in value:
        markings = value["object_marking_refs"]
        if not isinstance(markings, list) or not markings:
            raise _Other
        for marking in markings:
            _reference(marking, "marking-definition", "object_marking_refs")

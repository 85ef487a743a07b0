"""Flagged-address indicators as a watchdog publishes them: what it says of an address (a
Flag; its category sets how long the flag holds and how sure it is, unless it says), the
indicator's deterministic id, and each next version of it, revoked at the end. Pure.

The same publisher flagging the same address again makes a new version of the same
indicator, never a duplicate; a version that would say nothing new is not made."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from feed.addresses import Address
from feed.errors import InvalidObject
from feed.stix import (
    EXTENSION_ID,
    INDICATOR_NAMESPACE,
    SPEC_VERSION,
    TLP_MARKINGS,
    Category,
    Tlp,
    parse_stix_timestamp,
    stix_timestamp,
    wallet_pattern,
)

# Not part of an indicator's content: what changes from one version to the next by itself.
VERSION_FIELDS = frozenset({"type", "spec_version", "id", "created", "modified", "revoked"})


@dataclass(frozen=True)
class Policy:
    validity: timedelta | None
    confidence: int


# A listing stays in force until delisted; addresses found in the wild go stale and are
# re-flagged while they are still seen.
POLICIES = {
    Category.SANCTIONS: Policy(None, 100),
    Category.TERRORIST_FINANCING: Policy(None, 100),
    Category.CSAM: Policy(timedelta(days=365), 90),
    Category.RANSOMWARE: Policy(timedelta(days=2 * 365), 90),
    Category.DARKNET_MARKET: Policy(timedelta(days=365), 80),
    Category.THEFT: Policy(timedelta(days=365), 80),
    Category.SCAM: Policy(timedelta(days=180), 70),
    Category.OTHER: Policy(timedelta(days=180), 50),
}


@dataclass(frozen=True)
class Flag:
    """What a watchdog says about one address."""

    address: Address
    category: Category
    confidence: int | None = None
    valid_until: datetime | None = None
    description: str | None = None
    reference: str | None = None
    tlp: Tlp = Tlp.AMBER_STRICT
    asset: str | None = None
    source: str | None = None


def indicator_id(author_identity: str, address: Address, generation: int = 0) -> str:
    """Deterministic: the same publisher flagging the same address gets the same indicator.
    A revoked indicator cannot take new versions, so flagging it again starts a generation."""
    name = f"{author_identity}|{address.chain.caip2}|{address.key}"
    if generation:
        name += f"|{generation}"
    return f"indicator--{uuid.uuid5(INDICATOR_NAMESPACE, name)}"


def _extension(flag: Flag) -> dict[str, Any]:
    extension: dict[str, Any] = {
        "extension_type": "property-extension",
        "chain": flag.address.chain.caip2,
        "address": flag.address.canonical,
        "category": str(flag.category),
    }
    if flag.asset:
        extension["asset"] = flag.asset
    if flag.source:
        extension["source"] = flag.source
    return extension


def _external_references(flag: Flag) -> list[dict[str, str]]:
    if not flag.reference:
        return []
    reference = {"source_name": flag.source or "reference"}
    key = "url" if flag.reference.startswith(("https://", "http://")) else "external_id"
    reference[key] = flag.reference
    return [reference]


def build_indicator(
    flag: Flag,
    author_identity: str,
    now: datetime,
    previous: dict[str, Any] | None = None,
    generation: int = 0,
) -> dict[str, Any] | None:
    """The indicator for `flag`: a first version, the next version of `previous`, or None when
    `previous` already says the same. An expired `previous` is renewed from `now`."""
    address, policy = flag.address, POLICIES[flag.category]
    valid_from = now
    if previous is not None:
        previous_until = previous.get("valid_until")
        expired = previous_until is not None and parse_stix_timestamp(previous_until) <= now
        if not expired:
            valid_from = parse_stix_timestamp(previous["valid_from"])
    valid_until = flag.valid_until
    if valid_until is None and policy.validity is not None:
        valid_until = valid_from + policy.validity
    if valid_until is not None and valid_until <= valid_from:
        raise InvalidObject(
            f"valid_until {stix_timestamp(valid_until)} is not after valid_from "
            f"{stix_timestamp(valid_from)}"
        )
    indicator: dict[str, Any] = {
        "type": "indicator",
        "spec_version": SPEC_VERSION,
        "id": previous["id"] if previous else indicator_id(author_identity, address, generation),
        "created_by_ref": author_identity,
        "created": previous["created"] if previous else stix_timestamp(now),
        "modified": stix_timestamp(now),
        "name": f"{address.chain.name} address {address.canonical} ({flag.category})",
        "indicator_types": ["malicious-activity"],
        "pattern": wallet_pattern(address),
        "pattern_type": "stix",
        "pattern_version": SPEC_VERSION,
        "valid_from": stix_timestamp(valid_from),
        "confidence": policy.confidence if flag.confidence is None else flag.confidence,
        "labels": [str(flag.category)],
        "object_marking_refs": [TLP_MARKINGS[flag.tlp]],
        "extensions": {EXTENSION_ID: _extension(flag)},
    }
    if valid_until is not None:
        indicator["valid_until"] = stix_timestamp(valid_until)
    if flag.description:
        indicator["description"] = flag.description
    if references := _external_references(flag):
        indicator["external_references"] = references
    if previous is not None:
        if content(previous) == content(indicator):
            return None
        indicator["modified"] = next_modified(previous, now)
    return indicator


def content(indicator: dict[str, Any]) -> dict[str, Any]:
    """What an indicator says, without what makes it a particular version."""
    return {key: value for key, value in indicator.items() if key not in VERSION_FIELDS}


def next_modified(previous: dict[str, Any], now: datetime) -> str:
    """`now`, or just after the previous version when clocks disagree: versions must grow."""
    after = parse_stix_timestamp(previous["modified"]) + timedelta(milliseconds=1)
    return stix_timestamp(max(now, after))


def revoke_indicator(previous: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The final version of an indicator: same content, `revoked` true."""
    return {**previous, "modified": next_modified(previous, now), "revoked": True}

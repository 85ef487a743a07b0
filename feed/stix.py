"""STIX 2.1 objects: identities, the flagged-address vocabulary and pattern, TLP 2.0
markings, our property extension, sightings, and the checks every posted object passes. The
one module that imports stix2; pure (no I/O). Building a watchdog's indicators is in
`indicators`.

A flagged address is an indicator whose structured fields ride in the flagged-address property
extension; consumers that do not know it still match the pattern."""

import re
import uuid
import warnings
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

import stix2
from stix2.exceptions import STIXError
from stix2.utils import is_marking, is_sco

from feed.addresses import ADDRESS_SHAPE, Address, parse_address, screening_readings
from feed.chains import caip2_chain
from feed.errors import FeedError, InvalidAddress, InvalidObject, quoted
from feed.shapes import Unfit, common_indicator
from feed.taxii import (
    format_timestamp,
    is_object_id,
    micros_of,
    normalise_version,
    parse_timestamp,
)

SPEC_VERSION = "2.1"
EXTENSION_ID = "extension-definition--59c9d44e-ea9a-479c-a94f-fdeefc13128c"
PROJECT_IDENTITY_ID = "identity--b895d481-ecdf-4e86-83d3-cfb4198af7c8"
INDICATOR_NAMESPACE = uuid.UUID("d88980c2-450d-4bcd-9c02-7485ded93b31")
DEFINITIONS_CREATED = "2026-11-01T00:00:00.000Z"
TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"


class Category(StrEnum):
    CSAM = "csam"
    SANCTIONS = "sanctions"
    RANSOMWARE = "ransomware"
    SCAM = "scam"
    THEFT = "theft"
    DARKNET_MARKET = "darknet-market"
    TERRORIST_FINANCING = "terrorist-financing"
    OTHER = "other"


_CATEGORIES = frozenset(Category)


class Tlp(StrEnum):
    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"


# The TLP 2.0 marking definitions published by the OASIS CTI TC (cti-stix-common-objects).
TLP_MARKINGS = {
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}


def stix_timestamp(moment: datetime) -> str:
    """Millisecond precision, as stix2 writes `created` and `modified`: TAXII's fixed-width
    form, cut to milliseconds."""
    return format_timestamp(micros_of(moment.astimezone(UTC)))[:23] + "Z"


def parse_stix_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def wallet_pattern(address: Address) -> str:
    return f"[cryptocurrency-wallet:value = '{address.canonical}']"


def organisation_identity(organisation_id: str, name: str, created: datetime) -> str:
    """The STIX identity of an organisation, as JSON. Its id reuses the organisation's UUID."""
    identity = stix2.v21.Identity(
        id=f"identity--{organisation_id}",
        name=name,
        identity_class="organization",
        created=created,
        modified=created,
    )
    text: str = identity.serialize()
    return text


def object_version(value: dict[str, Any]) -> str | None:
    """The version of an object: its `modified`, else `created`, normalised; None if neither."""
    stamp = value.get("modified", value.get("created"))
    return None if stamp is None else normalise_version(str(stamp), field="modified")


def check_object(value: Any, author_identity: str) -> Address | None:
    """Raise InvalidObject, saying why, unless `value` is a valid STIX 2.1 object that the
    holder of `author_identity` may publish. Returns the address our extension flags, for an
    indicator that has it, so that indexing it need not read it again."""
    if not isinstance(value, dict):
        raise InvalidObject(f"is a JSON {type(value).__name__}, not a STIX object")
    object_type, object_id = value.get("type"), value.get("id")
    if not isinstance(object_type, str) or not isinstance(object_id, str):
        raise InvalidObject("has no string `type` and `id`")
    if not object_id.startswith(object_type + "--"):
        raise InvalidObject(
            f"id {quoted(object_id)} does not start with its type {quoted(object_type)}--"
        )
    sco, marking = _kind(object_type)
    spec_version = value.get("spec_version", SPEC_VERSION if sco else None)
    if spec_version != SPEC_VERSION:
        raise InvalidObject(f"spec_version is {quoted(spec_version)}; this server stores STIX 2.1")
    try:
        if not common_indicator(value, EXTENSION_ID):
            with warnings.catch_warnings():
                # stix2 warns about custom content it cannot check; allow_custom accepts it.
                warnings.simplefilter("ignore")
                stix2.parse(value, allow_custom=True, version=SPEC_VERSION)
        confidence = value.get("confidence", 0)
        if isinstance(confidence, int) and not 0 <= confidence <= 100:
            raise InvalidObject(f"confidence {confidence} is not between 0 and 100")
        created = value.get("created")
        modified = value.get("modified")
        if (
            created is not None
            and modified is not None
            and normalise_version(str(modified)) < normalise_version(str(created))
        ):
            raise InvalidObject(f"modified {modified} is earlier than created {created}")
        object_version(value)
        until = value.get("valid_until")
        if until is not None:  # stix2 lets an empty list through, as if there were none
            parse_timestamp(str(until), field="valid_until")
    except InvalidObject:
        raise
    except Unfit as error:
        raise InvalidObject(str(error)) from None
    except FeedError as error:
        raise InvalidObject(error.description) from None
    except STIXError as error:
        raise InvalidObject(str(error)) from None
    except Exception as error:  # stix2 raises plain ValueError, TypeError... on bad input
        raise InvalidObject(f"{type(error).__name__}: {error}") from None
    address = flagged_address(value) if object_type == "indicator" else None
    _check_author(value, object_id, author_identity, unauthored=sco or marking)
    return address


@lru_cache(maxsize=1024)  # stix2 answers from its type registries, slowly, on every call
def _kind(object_type: str) -> tuple[bool, bool]:
    """Whether objects of this type are SCOs, and whether they are marking definitions."""
    return is_sco(object_type, SPEC_VERSION), is_marking(object_type, SPEC_VERSION)


def _check_author(value: dict[str, Any], object_id: str, author: str, *, unauthored: bool) -> None:
    """SDOs, SROs and other SMOs must name the poster as `created_by_ref`; SCOs, marking
    definitions and the poster's own identity carry no author."""
    if unauthored or object_id == author:
        return
    created_by = value.get("created_by_ref")
    if created_by is None:
        raise InvalidObject(f"has no created_by_ref; objects you publish need {author}")
    if created_by != author:
        raise InvalidObject(f"created_by_ref {created_by} is not your identity {author}")


def extension_properties(value: dict[str, Any]) -> dict[str, Any] | None:
    """The properties of our extension in `value`; None where it has none as a JSON object."""
    extensions = value.get("extensions")
    extension = extensions.get(EXTENSION_ID) if isinstance(extensions, dict) else None
    return extension if isinstance(extension, dict) else None


def flagged_address(indicator: dict[str, Any]) -> Address | None:
    """The address an indicator flags, read from our extension; None if it has none."""
    extension = extension_properties(indicator)
    if extension is None:
        return None
    _check_extension_properties(extension)
    chain, text = extension.get("chain"), extension.get("address")
    if not isinstance(chain, str) or not isinstance(text, str):
        raise InvalidObject(f"{EXTENSION_ID} needs string `chain` and `address`")
    return _extension_address(chain, text, extension.get("category"), indicator.get("pattern"))


# The extension's optional text properties and their longest length, as in its schema.
_EXTENSION_TEXTS = {"asset": 32, "source": 64}
_EXTENSION_PROPERTIES = frozenset({"extension_type", "chain", "address", "category"}).union(
    _EXTENSION_TEXTS
)


def _check_extension_properties(extension: dict[str, Any]) -> None:
    """What the extension's schema asks of it beyond what _extension_address reads (the chain,
    the address as canonical on it, the category): its type, its properties, the address's
    shape, and the optional texts' lengths."""
    kind = extension.get("extension_type")
    if kind != "property-extension":
        raise InvalidObject(f"extension_type {quoted(kind)} is not property-extension")
    if not extension.keys() <= _EXTENSION_PROPERTIES:
        unknown = sorted(extension.keys() - _EXTENSION_PROPERTIES)
        raise InvalidObject(f"{EXTENSION_ID} has no property {quoted(unknown[0])}")
    address = extension.get("address")
    if isinstance(address, str) and not ADDRESS_SHAPE.fullmatch(address):
        raise InvalidObject(
            f"extension address {quoted(address)} is not 26 to 128 letters, digits and colons"
        )
    for name, longest in _EXTENSION_TEXTS.items():
        if name in extension:
            value = extension[name]
            if not isinstance(value, str) or len(value) > longest:
                raise InvalidObject(
                    f"extension {name} {quoted(value)} is not text of at most {longest} characters"
                )


def _extension_address(chain: str, text: str, category: Any, pattern: Any) -> Address:
    # A name or ticker is for people; the extension's schema asks for the chain's CAIP-2 id,
    # which is what consumers compare (a ticker such as USDT names several chains).
    named = caip2_chain(chain)
    if named is None:
        raise InvalidObject(
            f"extension chain {quoted(chain)} is not the CAIP-2 id of a supported chain, such as "
            "eip155:1 or bip122:000000000019d6689c085ae165831e93 (see `feed chains`)"
        )
    try:
        address = parse_address(text, named.caip2)
    except InvalidAddress as error:
        raise InvalidObject(f"extension address: {error.description}") from None
    if address.canonical != text:
        raise InvalidObject(f"extension address {text} is not canonical: {address.canonical}")
    if not isinstance(category, str) or category not in _CATEGORIES:
        raise InvalidObject(f"extension category {quoted(category)} is unknown")
    if pattern != wallet_pattern(address):
        raise InvalidObject(f"pattern does not match the extension: {wallet_pattern(address)}")
    return address


WALLET_PATTERN = re.compile(r"^\[cryptocurrency-wallet:value\s*=\s*'([^'\\]+)'\]$")


def indicator_addresses(value: dict[str, Any]) -> list[Address]:
    """The addresses an indicator flags: our extension's; else, for a plain wallet pattern,
    every chain the address may be on. Raises InvalidObject for an extension that disagrees
    with itself."""
    extensions = value.get("extensions")
    if isinstance(extensions, dict) and EXTENSION_ID in extensions:
        address = flagged_address(value)
        return [] if address is None else [address]
    found = WALLET_PATTERN.match(str(value.get("pattern", "")))
    if found is None:
        return []
    readings = screening_readings(found.group(1))
    if not readings:
        raise InvalidObject(f"the pattern's wallet {quoted(found.group(1))} is no address we know")
    return readings


def tlp_marking(level: Tlp) -> dict[str, Any]:
    return {
        "type": "marking-definition",
        "spec_version": SPEC_VERSION,
        "id": TLP_MARKINGS[level],
        "created": "2022-10-01T00:00:00.000Z",
        "name": f"TLP:{str(level).upper()}",
        "extensions": {
            TLP2_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": str(level)}
        },
    }


def project_identity() -> dict[str, Any]:
    return {
        "type": "identity",
        "spec_version": SPEC_VERSION,
        "id": PROJECT_IDENTITY_ID,
        "created": DEFINITIONS_CREATED,
        "modified": DEFINITIONS_CREATED,
        "name": "Flagged-address feed",
        "identity_class": "system",
        "description": "Defines the flagged-address extension for cryptocurrency indicators.",
    }


def extension_definition() -> dict[str, Any]:
    return {
        "type": "extension-definition",
        "spec_version": SPEC_VERSION,
        "id": EXTENSION_ID,
        "created_by_ref": PROJECT_IDENTITY_ID,
        "created": DEFINITIONS_CREATED,
        "modified": DEFINITIONS_CREATED,
        "name": "flagged-address",
        "description": (
            "The cryptocurrency address an indicator flags, as structured fields: the chain "
            "(CAIP-2), the canonical address, why it is flagged, and where the listing came from."
        ),
        "schema": "schemas/flagged-address-extension.json",
        "version": "1.0.0",
        "extension_types": ["property-extension"],
    }


def definitions() -> list[dict[str, Any]]:
    """The objects every feed carries so that its indicators' references resolve."""
    return [project_identity(), extension_definition(), *(tlp_marking(level) for level in Tlp)]


def checked_indicator_id(text: str) -> str:
    """`text`, an indicator's id; raises InvalidObject saying what it is instead. `feed check`
    prints a match as id@version, which is easily copied whole."""
    if text.startswith("indicator--") and is_object_id(text):
        return text
    id_, at, _ = text.partition("@")
    if at and id_.startswith("indicator--") and is_object_id(id_):
        raise InvalidObject(f"{quoted(text)} names a version after '@': give the id alone, {id_}")
    raise InvalidObject(f"{quoted(text)} is not an indicator id (indicator--<UUID>)")


def build_sighting(
    identity: str,
    indicator_id: str,
    *,
    count: int,
    first_seen: datetime,
    last_seen: datetime,
    now: datetime,
) -> dict[str, Any]:
    """An exchange's report that it saw a flagged address: a sighting of the indicator, sighted
    by the exchange itself. Its id is derived from the exchange, the indicator and first_seen,
    so a later report of the same run of sightings (more seen since) is a new version of it;
    its `created` is first_seen, which every version shares, as STIX asks, though the
    exchange keeps no record of what it reported."""
    checked_indicator_id(indicator_id)
    if not 1 <= count <= 999_999_999:
        raise InvalidObject(f"count {count} is not between 1 and 999999999")
    if last_seen < first_seen:
        raise InvalidObject("last_seen is earlier than first_seen")
    for field, seen in (("first_seen", first_seen), ("last_seen", last_seen)):
        if seen > now:
            raise InvalidObject(f"{field} {stix_timestamp(seen)} has not happened yet")
    first = stix_timestamp(first_seen)
    name = f"sighting|{identity}|{indicator_id}|{first}"
    return {
        "type": "sighting",
        "spec_version": SPEC_VERSION,
        "id": f"sighting--{uuid.uuid5(INDICATOR_NAMESPACE, name)}",
        "created_by_ref": identity,
        "created": first,
        "modified": stix_timestamp(now),
        "sighting_of_ref": indicator_id,
        "where_sighted_refs": [identity],
        "count": count,
        "first_seen": first,
        "last_seen": stix_timestamp(last_seen),
    }

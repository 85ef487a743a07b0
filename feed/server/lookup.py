"""Lookup (extension): is this address flagged in any feed the caller may read, and by which
indicators? For exchanges that keep no mirror; `feed check` answers the same from a mirror.
One address by GET, or a batch of them (a day's withdrawals) by POST: one request, counted
once against the rate limit, each address answered in turn and an invalid one said so beside
the others."""

from collections.abc import Sequence
from typing import Annotated, NamedTuple

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session, col, select

from feed.accounts import accessible_collections
from feed.addresses import Address, parse_address, screening_readings
from feed.errors import BadRequest, InvalidAddress, PayloadTooLarge, describe_problems
from feed.keys import Key
from feed.lookup import find_flagged
from feed.server.deps import Caller, EnvelopeBody, StoreDep
from feed.server.discovery import API_ROOT
from feed.server.responses import TaxiiResponse, documented_body, taxii_json
from feed.tables import Collection, FlaggedAddress, Organisation
from feed.taxii import format_timestamp, now_micros

router = APIRouter()
# Addresses one POST may ask about.
MOST_ADDRESSES = 1000


class Reading(BaseModel):
    chain: str
    address: str


class LookupMatch(BaseModel):
    collection: str
    collection_title: str
    watchdog_name: str = Field(description="The name of the organisation that owns the feed.")
    indicator: str
    version: str
    chain: str
    address: str
    category: str | None = None
    confidence: int | None = None
    valid_until: str | None = None
    created_by_ref: str | None = None


class LookupResult(BaseModel):
    address: str
    readings: list[Reading]
    flagged: bool
    matches: list[LookupMatch]


class LookupItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(min_length=1, max_length=200)
    chain: str | None = Field(
        None, max_length=100, description="Ticker, chain name or CAIP-2 id; else every chain."
    )


class LookupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # At most MOST_ADDRESSES: said in the schema, and answered 413 beyond, as a body too large.
    addresses: list[LookupItem] = Field(
        min_length=1, json_schema_extra={"maxItems": MOST_ADDRESSES}
    )


class LookupRefusal(BaseModel):
    """An address of the batch that is no address (of its chain, where one is named)."""

    address: str
    invalid: str


class LookupResults(BaseModel):
    """One result per address asked about, in the order asked."""

    results: list[LookupResult | LookupRefusal]


def _readings(address: str, chain: str | None) -> list[Address]:
    """Where `address` is screened: on `chain`, or on every chain that reads it. Raises
    InvalidAddress, saying why, where none does."""
    readings = [parse_address(address, chain)] if chain else screening_readings(address)
    if not readings:
        parse_address(address)  # raises InvalidAddress, saying why
    return readings


class _Found(NamedTuple):
    """The index rows flagging each key asked about, and each flagging feed's title and
    watchdog's name."""

    rows: dict[Key, list[FlaggedAddress]]
    feeds: dict[str, tuple[str, str]]


def _flagging(session: Session, caller: Organisation, readings: Sequence[Address]) -> _Found:
    """What flags each key of `readings` in the collections `caller` may read."""
    readable = [a.collection.id for a in accessible_collections(session, caller) if a.can_read]
    rows: dict[Key, list[FlaggedAddress]] = {}
    for row in find_flagged(session, readings, readable, now_micros()):
        rows.setdefault((row.domain, row.address_key), []).append(row)
    flagging = {row.collection_id for found in rows.values() for row in found}
    return _Found(rows, _feeds(session, flagging))


def _feeds(session: Session, collection_ids: set[str]) -> dict[str, tuple[str, str]]:
    """Each collection's title and its owner's name; no query when none flags anything."""
    if not collection_ids:
        return {}
    named = (
        select(Collection.id, Collection.title, Organisation.name)
        .join(Organisation, col(Organisation.id) == Collection.owner_id)
        .where(col(Collection.id).in_(collection_ids))
    )
    return {id_: (title, owner) for id_, title, owner in session.exec(named)}


def _result(address: str, readings: Sequence[Address], found: _Found) -> LookupResult:
    keys = dict.fromkeys((reading.domain, reading.key) for reading in readings)
    rows = sorted(  # as find_flagged orders them, across an address's keys
        (row for key in keys for row in found.rows.get(key, ())),
        key=lambda row: (row.collection_id, row.object_id),
    )
    matches = [
        LookupMatch(
            collection=row.collection_id,
            collection_title=found.feeds[row.collection_id][0],
            watchdog_name=found.feeds[row.collection_id][1],
            indicator=row.object_id,
            version=row.version,
            chain=row.chain,
            address=row.address,
            category=row.category,
            confidence=row.confidence,
            valid_until=None if row.valid_until is None else format_timestamp(row.valid_until),
            created_by_ref=row.created_by_ref,
        )
        for row in rows
    ]
    return LookupResult(
        address=address,
        readings=[Reading(chain=r.chain.caip2, address=r.canonical) for r in readings],
        flagged=bool(matches),
        matches=matches,
    )


@router.get(
    API_ROOT + "lookup/",
    responses={200: {"model": LookupResult}},
    summary="Is an address flagged? (extension)",
    description="Canonicalises `address` (on `chain` when given: a ticker, chain name or "
    "CAIP-2 id; else on every chain it may be on) and answers with the active indicators "
    "that flag it in the collections you may read. An invalid address gives 400 saying why. "
    "Schema: schemas/lookup-result.json.",
)
def lookup(
    caller: Caller,
    store: StoreDep,
    address: Annotated[str, Query(min_length=1, max_length=200)],
    chain: Annotated[str | None, Query(max_length=100)] = None,
) -> TaxiiResponse:
    readings = _readings(address, chain)
    with store.reading() as session:
        found = _flagging(session, caller, readings)
    return taxii_json(_result(address, readings, found))


@router.post(
    API_ROOT + "lookup/",
    responses={200: {"model": LookupResults}},
    openapi_extra=documented_body(LookupRequest),
    summary="Are these addresses flagged? (extension)",
    description="Body (TAXII media type): `addresses`, at most 1,000, each an `address` and "
    "optionally its `chain`. Answers `results`, one per address in the order asked: what GET "
    "answers for it, or, for an address that is no address, `invalid` saying why. Schemas: "
    "schemas/lookup-request.json, schemas/lookup-results.json.",
)
def lookup_many(caller: Caller, store: StoreDep, raw: EnvelopeBody) -> TaxiiResponse:
    try:
        request = LookupRequest.model_validate_json(raw)
    except ValidationError as error:
        raise BadRequest(f"not a lookup: {describe_problems(error.errors(), 'body')}") from None
    if len(request.addresses) > MOST_ADDRESSES:
        raise PayloadTooLarge(
            f"the lookup asks about {len(request.addresses)} addresses; at most {MOST_ADDRESSES}"
        )
    asked: list[list[Address] | str] = []
    for item in request.addresses:
        try:
            asked.append(_readings(item.address, item.chain))
        except InvalidAddress as error:
            asked.append(error.description)
    every = [reading for found in asked if isinstance(found, list) for reading in found]
    with store.reading() as session:
        found = _flagging(session, caller, every)
    results: list[LookupResult | LookupRefusal] = [
        LookupRefusal(address=item.address, invalid=readings)
        if isinstance(readings, str)
        else _result(item.address, readings, found)
        for item, readings in zip(request.addresses, asked, strict=True)
    ]
    return taxii_json(LookupResults(results=results))

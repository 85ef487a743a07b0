"""Lookup (extension): is this address flagged in any feed the caller may read, and by which
indicators? For exchanges that keep no mirror; `feed check` answers the same from a mirror."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from feed.accounts import accessible_collections
from feed.addresses import parse_address, screening_readings
from feed.lookup import find_flagged
from feed.server.deps import Caller, StoreDep
from feed.server.discovery import API_ROOT
from feed.server.responses import TaxiiResponse, taxii_json
from feed.taxii import format_timestamp, now_micros

router = APIRouter()


class Reading(BaseModel):
    chain: str
    address: str


class LookupMatch(BaseModel):
    collection: str
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


@router.get(
    API_ROOT + "lookup/",
    responses={200: {"model": LookupResult}},
    summary="Is an address flagged? (extension)",
    description="Canonicalises `address` (on `chain` when given: a ticker, chain name or "
    "CAIP-2 id; else on every chain it may be on) and answers with the active indicators "
    "that flag it in the collections you may read. An invalid address gives 400 saying why.",
)
def lookup(
    caller: Caller,
    store: StoreDep,
    address: Annotated[str, Query(min_length=1, max_length=200)],
    chain: Annotated[str | None, Query(max_length=100)] = None,
) -> TaxiiResponse:
    readings = [parse_address(address, chain)] if chain else screening_readings(address)
    if not readings:
        parse_address(address)  # raises InvalidAddress, saying why
    with store.reading() as session:
        readable = [a.collection.id for a in accessible_collections(session, caller) if a.can_read]
        rows = find_flagged(session, readings, readable, now_micros())
    matches = [
        LookupMatch(
            collection=row.collection_id,
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
    return taxii_json(
        LookupResult(
            address=address,
            readings=[Reading(chain=r.chain.caip2, address=r.canonical) for r in readings],
            flagged=bool(matches),
            matches=matches,
        )
    )

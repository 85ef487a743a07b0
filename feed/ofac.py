"""The OFAC SDN list (advanced XML) -> publisher rows.

Each digital-currency address feature of an SDN entry is a listing: the ticker OFAC gave, the
address, the sanctioned party and its programmes. Tickers are resolved to chains by the
address itself (USDT names several chains). OFAC also files addresses under the wrong ticker
(a Tron address under XBT): one that is no address of its ticker's chains but is one of a
single other mainnet chain is still sanctioned, so it is published there, said so in its
description and returned beside the rows (not under a ticker of a chain unknown here, whose
address it may well be). Listings of one (chain, address) become one row, naming every party
that lists it. Listings that are no address at all, or that several other chains read, are
returned with the reason, never dropped silently. The list is public, so its indicators are
TLP:CLEAR."""

import bz2
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

from lxml import etree

from feed.addresses import Address, parse_address, screening_readings
from feed.chains import BY_CAIP2
from feed.encodings import Problem
from feed.errors import ConfigurationError, InvalidAddress, with_article
from feed.publisher import Rejection
from feed.publisher_rows import NumberedRow
from feed.stix import Category, Tlp

SOURCE = "ofac-sdn"
NS = "{https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/ADVANCED_XML}"
CURRENCY_FEATURE = "Digital Currency Address - "
PROGRAM_TYPE = "Program"
ENTRY_URL = "https://sanctionssearch.ofac.treas.gov/Details.aspx?id={}"


@dataclass(frozen=True)
class Listing:
    """One digital-currency address on one SDN entry."""

    entry: str
    party: str
    ticker: str
    address: str
    programs: tuple[str, ...] = ()


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".bz2":
        return bz2.open(path)
    return path.open("rb")


def _primary_name(party: Any) -> str:
    for alias in party.iter(NS + "Alias"):
        if alias.get("Primary") != "true":
            continue
        for name in alias.iter(NS + "DocumentedName"):
            if name.get("DocNameStatusID") == "1":  # Primary Latin
                return " ".join(part.text or "" for part in name.iter(NS + "NamePartValue"))
    return "(unnamed)"


def read_listings(path: Path) -> list[Listing]:
    """Every digital-currency address listing of an SDN advanced XML file (or .bz2)."""
    currencies: dict[str, str] = {}
    program_type: str | None = None
    found: list[Listing] = []
    programs: dict[str, tuple[str, ...]] = {}
    tags = (NS + "FeatureType", NS + "SanctionsType", NS + "DistinctParty", NS + "SanctionsEntry")
    try:
        with _open(path) as stream:
            for _, element in etree.iterparse(
                stream, events=("end",), tag=tags, resolve_entities=False, no_network=True
            ):
                tag = element.tag.removeprefix(NS)
                text = element.text or ""
                if tag == "FeatureType" and text.startswith(CURRENCY_FEATURE):
                    currencies[element.get("ID")] = text.removeprefix(CURRENCY_FEATURE).strip()
                elif tag == "SanctionsType" and text == PROGRAM_TYPE:
                    program_type = element.get("ID")
                elif tag == "DistinctParty":
                    found.extend(_party_listings(element, currencies))
                elif tag == "SanctionsEntry":
                    programs[element.get("ProfileID")] = tuple(
                        measure.findtext(NS + "Comment") or ""
                        for measure in element.iter(NS + "SanctionsMeasure")
                        if measure.get("SanctionsTypeID") == program_type
                    )
                if tag in ("DistinctParty", "SanctionsEntry"):
                    element.clear()  # and drop the emptied siblings: the file is 120 MB
                    while element.getprevious() is not None:
                        del element.getparent()[0]
    except (etree.XMLSyntaxError, OSError, EOFError) as error:
        raise ConfigurationError(f"{path}: not a readable SDN advanced XML file: {error}") from None
    if not currencies:
        raise ConfigurationError(f"{path}: no digital-currency feature types; is it SDN XML?")
    if not found:  # as the whole list, it would revoke every address imported before
        raise ConfigurationError(
            f"{path}: lists no digital-currency address; is it the whole SDN list (not the "
            "consolidated non-SDN list or an extract)?"
        )
    return [
        Listing(
            listing.entry, listing.party, listing.ticker, listing.address,
            programs.get(listing.entry, ()),
        )
        for listing in found
    ]  # fmt: skip


def _party_listings(party: Any, currencies: dict[str, str]) -> Iterator[Listing]:
    name: str | None = None
    for feature in party.iter(NS + "Feature"):
        ticker = currencies.get(feature.get("FeatureTypeID"))
        if ticker is None:
            continue
        name = name or _primary_name(party)
        for detail in feature.iter(NS + "VersionDetail"):
            if detail.text and detail.text.strip():
                yield Listing(party.get("FixedRef"), name, ticker, detail.text.strip())


@dataclass
class _Merged:
    first: Listing
    tickers: set[str]
    parties: dict[str, Listing]
    misfiled: set[str]  # the tickers it is listed under but is no address of


class Refiled(NamedTuple):
    """A listing published on another chain than its ticker's: the one it is an address of."""

    where: str
    address: str
    chain: str


class Converted(NamedTuple):
    """Publisher rows, numbered; where on the list each row comes from, by its number (an XML
    file's line says nothing of it); the listings that are no address of their ticker nor of
    one other chain; and those published on that other chain."""

    rows: list[NumberedRow]
    places: dict[int, str]
    rejected: list[Rejection]
    refiled: list[Refiled]


def _place(listings: list[Listing], tickers: str) -> str:
    """Where on the list a row comes from: "SDN entry 7 (NAME), XBT", or "SDN entries 7
    (NAME), 9 (OTHER), ETH/USDT"."""
    entries = ", ".join(f"{listing.entry} ({listing.party})" for listing in listings)
    return f"SDN {'entry' if len(listings) == 1 else 'entries'} {entries}, {tickers}"


def _elsewhere(text: str) -> Address | None:
    """`text` as an address of the one mainnet chain it reads as (an EVM account is one on
    every EVM chain), or None."""
    readings = [address for address in screening_readings(text) if not address.chain.testnet]
    return readings[0] if len(readings) == 1 else None


def to_rows(listings: list[Listing]) -> Converted:
    """One publisher row per distinct (chain, address); the listings that are no address of
    their ticker, nor of one other chain; and those published on that chain."""
    merged: dict[tuple[str, str], _Merged] = {}
    rejected: list[Rejection] = []
    refiled: list[Refiled] = []
    for listing in listings:
        where = _place([listing], listing.ticker)
        misfiled = False
        try:
            address = parse_address(listing.address, listing.ticker)
        except InvalidAddress as error:
            # Under a ticker of a chain not known here, it may well be that chain's address.
            known = error.problem != Problem.UNKNOWN_CHAIN
            found = _elsewhere(listing.address) if known else None
            if found is None:
                reason = error.description.removeprefix(f"{listing.address}: ")
                rejected.append(Rejection(0, listing.address, reason, where))
                continue
            address, misfiled = found, True
            refiled.append(Refiled(where, listing.address, address.chain.name))
        key = (address.chain.caip2, address.key)
        entry = merged.setdefault(key, _Merged(listing, set(), {}, set()))
        entry.tickers.add(listing.ticker)
        entry.parties.setdefault(listing.entry, listing)
        if misfiled:
            entry.misfiled.add(listing.ticker)
    rows: list[NumberedRow] = []
    places: dict[int, str] = {}
    for number, ((chain, _), entry) in enumerate(sorted(merged.items()), start=1):
        parties = sorted(entry.parties.values(), key=lambda listing: int(listing.entry))
        described = "; ".join(
            f"{p.party} [{', '.join(p.programs) or 'no programme'}] (SDN entry {p.entry})"
            for p in parties
        )
        if entry.misfiled:
            described += (
                f". OFAC lists it under {'/'.join(sorted(entry.misfiled))}, but it is "
                f"{with_article(BY_CAIP2[chain].name)} address"
            )
        tickers = "/".join(sorted(entry.tickers))
        places[number] = _place(parties, tickers)
        row = {
            "chain": chain,
            "address": entry.first.address,
            "category": str(Category.SANCTIONS),
            "description": f"Listed on the OFAC SDN list: {described}",
            "reference": ENTRY_URL.format(parties[0].entry),
            "tlp": str(Tlp.CLEAR),
            "asset": tickers[:32],
            "source": SOURCE,
        }
        rows.append((number, row))
    return Converted(rows, places, rejected, refiled)

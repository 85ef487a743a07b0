"""The OFAC SDN importer: the SDN file of tests/data read in full and cross-checked against the
addresses derived from it independently, then `feed import-ofac` into a running server."""

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from feed.client import FeedClient
from feed.errors import ConfigurationError
from feed.ofac import SOURCE, Listing, read_listings, to_rows
from feed.stix import EXTENSION_ID, TLP_MARKINGS, Tlp
from tests.conftest import World
from tests.sdn_xml import sdn_xml
from tests.test_addresses import OFAC_ROWS

SDN = OFAC_ROWS.parent / "sdn_advanced.xml.bz2"
BTC = "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu"
ETH = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
TRON_UNDER_XBT = "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq"


@pytest.fixture(scope="module")
def listings() -> list[Listing]:
    return read_listings(SDN)


def test_every_listing_of_the_sdn_file_is_read(listings: list[Listing]) -> None:
    with OFAC_ROWS.open() as rows:
        derived = {(r["asset"], r["address"], r["sdn_fixed_ref"]) for r in csv.DictReader(rows)}
    assert {(x.ticker, x.address, x.entry) for x in listings} == derived
    lazarus = [x for x in listings if x.party == "Lazarus Group"]
    assert lazarus
    assert all(x.programs == ("DPRK3",) for x in lazarus)


def test_rows_are_one_per_chain_and_address(listings: list[Listing]) -> None:
    rows, places, rejected, refiled = to_rows(listings)
    assert len(rows) == len(places) == 746
    assert {(r.address, r.where.rsplit(", ", 1)[1]) for r in rejected} == {
        ("5be5543ff73456ab9f2d207887e2af87322c651ea1a873c5b25b7ffae456c320", "XMR"),
        ("GPwg61XoHqQPNmAucFACuQ5H9sGCDv9TpS", "BTG"),  # a chain not known here
    }
    # Filed under XBT, and an address of Tron alone: still sanctioned, published on Tron.
    (tron_under_xbt,) = refiled
    assert tron_under_xbt == ("SDN entry 45404 (Wang Mingming), XBT", TRON_UNDER_XBT, "Tron")
    (row,) = [f for _, f in rows if isinstance(f, dict) and f["address"] == TRON_UNDER_XBT]
    assert (row["chain"], row["asset"]) == ("tron:0x2b6653dc", "XBT")
    assert row["description"].endswith("OFAC lists it under XBT, but it is a Tron address")
    merged = next(
        fields
        for _, fields in rows
        if isinstance(fields, dict)
        and fields["address"].lower()
        == ETH.lower()[:0] + ("0x983a81ca6fb1e441266d2fbcb7d8e530ac2e05a2")
    )
    assert merged["asset"] == "ETH/USDC/USDT"
    assert merged["chain"] == "eip155:1"
    assert "Valerian Labs, Inc. [ILLICIT-DRUGS-EO14059] (SDN entry 45314)" in merged["description"]
    assert merged["reference"].endswith("?id=45314")
    merged_place = next(places[number] for number, fields in rows if fields is merged)
    assert merged_place == "SDN entry 45314 (Valerian Labs, Inc.), ETH/USDC/USDT"
    assert "SDN entries 38419 (Khatibi Aghada Ahmad), 38420 (Nikaeen Ravari Amir Hossein), XBT" in (
        places.values()
    )


def test_a_misfiled_address_is_published_only_where_one_chain_reads_it() -> None:
    _, _, rejected, refiled = to_rows([
        Listing("1", "ONE", "XBT", ETH.lower()),  # one EVM account, on every EVM chain
        Listing("2", "TWO", "XMR", BTC),  # Bitcoin, Bitcoin SV and Bitcoin Cash read it
        Listing("3", "THREE", "XBT", "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"),  # testnet
    ])  # fmt: skip
    assert [(r.address, r.chain) for r in refiled] == [(ETH.lower(), "Ethereum")]
    assert [r.address for r in rejected] == [BTC, "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"]


def test_a_file_that_is_not_sdn_xml_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "sdn.xml"
    broken.write_text("<Sanctions><unclosed></Sanctions>")
    with pytest.raises(ConfigurationError, match="not a readable SDN advanced XML file"):
        read_listings(broken)
    other = tmp_path / "other.xml"
    other.write_text("<catalogue/>")
    with pytest.raises(ConfigurationError, match="no digital-currency feature types"):
        read_listings(other)
    # Read as the whole list, a file of the same schema naming no address would revoke them all.
    empty = tmp_path / "cons.xml"
    empty.write_bytes(sdn_xml([]))
    with pytest.raises(ConfigurationError, match="lists no digital-currency address"):
        read_listings(empty)


def import_ofac(base_url: str, world: World, path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "feed.cli", "import-ofac", str(path), "--url", base_url,
         "--key", world.watchdog.bearer, "--feed", world.feed, "--json", *extra],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 3), done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, summary


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_import_the_sdn_file(base_url: str, world: World) -> None:
    status, summary = import_ofac(base_url, world, SDN)
    assert status == 3
    assert (summary["new"], summary["unchanged"], summary["revoked"]) == (746, 0, 0)
    assert len(summary["rejected"]) == 2
    assert summary["refiled"] == [
        {"where": "SDN entry 45404 (Wang Mingming), XBT", "address": TRON_UNDER_XBT,
         "chain": "Tron"},
    ]  # fmt: skip
    assert all(r["where"].startswith("SDN entry ") for r in summary["rejected"])
    with FeedClient(base_url, world.exchange.bearer, world.feed) as reader:
        indicators = list(reader.objects(type="indicator"))
    flagged = {
        (i["extensions"][EXTENSION_ID]["chain"], i["extensions"][EXTENSION_ID]["address"])
        for i in indicators
    }
    assert len(indicators) == len(flagged) == 746
    assert {i["object_marking_refs"][0] for i in indicators} == {TLP_MARKINGS[Tlp.CLEAR]}
    assert {i["extensions"][EXTENSION_ID]["source"] for i in indicators} == {SOURCE}
    assert all("valid_until" not in i for i in indicators)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_misfiled_address_is_listed_as_taken_on_its_chain(
    base_url: str, world: World, tmp_path: Path
) -> None:
    path = tmp_path / "sdn.xml"
    path.write_bytes(sdn_xml([Listing("9", "NINE", "XBT", TRON_UNDER_XBT, ("SDNTK",))]))
    for extra in (["--dry-run"], []):
        done = subprocess.run(
            [sys.executable, "-m", "feed.cli", "import-ofac", str(path), "--url", base_url,
             "--key", world.watchdog.bearer, "--feed", world.feed, *extra],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[1] == (
            f"  SDN entry 9 (NINE), XBT: {TRON_UNDER_XBT}: taken as Tron, the one chain it is an "
            "address of"
        )


def test_a_newer_list_revokes_what_was_delisted(
    base_url: str, world: World, tmp_path: Path
) -> None:
    older = [
        Listing("1", "ONE", "XBT", BTC, ("CYBER2",)),
        Listing("2", "TWO", "ETH", ETH, ("DPRK3",)),
        Listing("2", "TWO", "USDT", ETH.lower(), ("DPRK3",)),
        Listing("3", "THREE", "TRX", "TAYhjpL8pPs8T84FSM329nffQpc6jD8GBM", ("SDNTK",)),
    ]
    first = tmp_path / "older.xml"
    first.write_bytes(sdn_xml(older))
    status, summary = import_ofac(base_url, world, first)
    assert (status, summary["new"], summary["rejected"]) == (0, 3, [])

    newer = tmp_path / "newer.xml"
    renamed = Listing("3", "THREE (renamed)", "TRX", older[3].address, ("SDNTK",))
    newer.write_bytes(sdn_xml([older[0], renamed]))
    status, preview = import_ofac(base_url, world, newer, "--dry-run")
    assert [(p["where"], p["kind"], p["address"]) for p in preview.pop("planned")] == [
        ("SDN entry 3 (THREE (renamed)), TRX", "updated", renamed.address),
        ("delisting", "revoked", ETH),
    ]  # fmt: skip
    assert preview.pop("posted") is False
    status, summary = import_ofac(base_url, world, newer)
    assert summary == preview  # the dry run posted nothing, and said what would be
    counts = (summary["new"], summary["updated"], summary["unchanged"], summary["revoked"])
    assert (status, counts) == (0, (0, 1, 1, 1))

    with FeedClient(base_url, world.exchange.bearer, world.feed) as reader:
        latest = {
            i["extensions"][EXTENSION_ID]["address"]: i for i in reader.objects(type="indicator")
        }
    assert latest[ETH]["revoked"] is True
    assert "revoked" not in latest[BTC]
    assert "THREE (renamed)" in latest["TAYhjpL8pPs8T84FSM329nffQpc6jD8GBM"]["description"]

"""A watchdog's file of rows as `feed publish` reads it: CSV and JSON Lines, the columns left
out and the defaults that fill empty ones."""

import json
from pathlib import Path

import jsonschema
import pytest

from feed.errors import ConfigurationError
from feed.publisher_rows import Row, read_rows
from tests.test_addresses import DATA, RANSOMWARE

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
BTC = "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu"
ETH = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
# The ransomware data set's other columns, named whatever their case.
EXPORT_ONLY = ["type", "AmountReceivedUSD", "amountreceivedbtc"]


def test_reading_csv_and_json_lines(tmp_path: Path) -> None:
    table = tmp_path / "rows.csv"
    table.write_text(
        f"\ufeffaddress, chain ,category\n{BTC},BTC,csam\n{ETH},,scam,extra\n{ETH},ETH,\n",
        encoding="utf-8",
    )
    assert list(read_rows(table)) == [
        (2, {"address": BTC, "chain": "BTC", "category": "csam"}),
        (3, "more cells than the header has columns"),
        (4, {"address": ETH, "chain": "ETH"}),
    ]
    lines = tmp_path / "rows.jsonl"
    lines.write_text(f'{{"address": "{BTC}"}}\n\n[1]\n{{"address": \n')
    read = list(read_rows(lines))
    assert read[:2] == [(1, {"address": BTC}), (3, "not a JSON object")]
    assert read[2][0] == 4
    assert str(read[2][1]).startswith("not JSON")
    unicode_text = tmp_path / "export.txt"  # Excel's Unicode Text, named as Excel names it
    unicode_text.write_bytes(f"address\tchain\r\n{BTC}\tBTC\r\n{ETH}\tETH\tx\r\n".encode("utf-16"))
    semicolons = tmp_path / "export.csv"
    semicolons.write_text(f"Address;Chain\n{BTC};BTC\n{ETH};ETH;x\n")  # as exports capitalise
    assert (
        list(read_rows(unicode_text))
        == list(read_rows(semicolons))
        == [
            (2, {"address": BTC, "chain": "BTC"}),
            (3, "more cells than the header has columns"),
        ]
    )
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("address,wallet_owner\n")
    with pytest.raises(ConfigurationError, match="unknown: wallet_owner"):
        list(read_rows(unknown))
    with pytest.raises(ConfigurationError, match=r"give a \.csv, \.tsv or \.txt file"):
        list(read_rows(tmp_path / "rows.xlsx"))


def test_row_schema_is_the_rows_model() -> None:
    published = json.loads((SCHEMAS / "publisher-row.json").read_text())
    generated = Row.model_json_schema()
    assert {k: v for k, v in published.items() if not k.startswith("$schema")} == {
        "$id": "publisher-row.json",
        **generated,
    }, "regenerate schemas/publisher-row.json from feed.publisher_rows.Row.model_json_schema()"
    good = {"address": BTC, "chain": "BTC", "category": "csam", "confidence": 80, "tlp": "red"}
    jsonschema.validate(good, published)
    Row.model_validate(good)
    for bad in ({"chain": "BTC"}, {**good, "confidence": 101}, {**good, "colour": "red"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, published)


def test_columns_not_for_publishing_are_left_out_when_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"unknown: amountreceivedbtc.*--ignore-column"):
        read_rows(RANSOMWARE)
    first_line, first = next(read_rows(RANSOMWARE, ignored=EXPORT_ONLY))
    assert (first_line, first) == (2, {"address": "34YmbPSXRjewgcqVRcrryUtYqzM25VXrNt"})
    with pytest.raises(ConfigurationError, match="no column wallet to leave out; the header names"):
        read_rows(RANSOMWARE, ignored=[*EXPORT_ONLY, "wallet"])
    with pytest.raises(ConfigurationError, match="address column cannot be left out"):
        read_rows(RANSOMWARE, ignored=["Address"])
    notes = tmp_path / "notes.csv"  # a known column can be kept back too
    notes.write_text(f"address,category,description\n{BTC},csam,seen by analyst J.\n")
    assert list(read_rows(notes, ignored=["description"])) == [
        (2, {"address": BTC, "category": "csam"})
    ]
    lines = tmp_path / "rows.jsonl"
    lines.write_text(json.dumps({"address": BTC, "Internal": 1, "category": "csam"}) + "\n")
    assert list(read_rows(lines, ignored=["internal"])) == [
        (1, {"address": BTC, "category": "csam"})
    ]


def test_defaults_fill_the_columns_a_row_leaves_empty(tmp_path: Path) -> None:
    table = tmp_path / "rows.csv"
    table.write_text(f"address,chain,category\n{BTC},,\n{ETH},ETH,scam\n")
    defaults = [("Chain", "BTC"), ("category", " ransomware ")]
    assert list(read_rows(table, defaults=defaults)) == [
        (2, {"chain": "BTC", "category": "ransomware", "address": BTC}),
        (3, {"chain": "ETH", "category": "scam", "address": ETH}),
    ]
    lines = tmp_path / "rows.jsonl"
    lines.write_text(f'{{"address": "{BTC}", "category": null}}\n[1]\n')
    assert list(read_rows(lines, defaults=[("category", "csam")])) == [
        (1, {"category": "csam", "address": BTC}),
        (2, "not a JSON object"),
    ]


@pytest.mark.parametrize(
    ("defaults", "refusal"),
    [
        ([("category", "ransomwar")], "default category: Input should be 'csam'"),
        ([("confidence", "101"), ("tlp", "pink")], "confidence: .* 100; tlp: "),
        ([("colour", "red")], "no column colour to give a default; the columns are action"),
        ([("address", BTC)], "the address cannot have a default"),
        ([("category", "csam"), ("CATEGORY", "scam")], "category is given two defaults"),
    ],
)
def test_a_default_no_row_could_give_is_refused_before_any_row_is_read(
    defaults: list[tuple[str, str]], refusal: str
) -> None:
    with pytest.raises(ConfigurationError, match=refusal):
        read_rows(RANSOMWARE, ignored=EXPORT_ONLY, defaults=defaults)


def test_a_list_of_addresses_with_no_header_is_read_from_its_first_line() -> None:
    listed = DATA / "ofac-sdn-2025-11-19" / "sanctioned_addresses_ETH.txt"
    defaults = [("chain", "ETH"), ("category", "sanctions")]
    rows = list(read_rows(listed, defaults=defaults))
    assert rows[0] == (1, {"chain": "ETH", "category": "sanctions",
                           "address": "0x04DBA1194ee10112fE6C3207C0687DEf0e78baCf"})  # fmt: skip
    assert len(rows) == len(listed.read_text().split())
    with pytest.raises(ConfigurationError, match="no column memo to leave out: it is a list of"):
        read_rows(listed, ignored=["memo"])

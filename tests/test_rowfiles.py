"""Row files as spreadsheets and exports write them: their encodings, delimiters, and records
that cannot be read beside ones that can."""

from pathlib import Path

import pytest

from feed.errors import ConfigurationError
from feed.rowfiles import delimiter, is_json_lines, json_objects, records, table
from tests.test_addresses import DATA

ROWS = [["address", "chain"], ["1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu", "BTC"], ["0xab", ""]]


@pytest.mark.parametrize(
    ("encoding", "separator", "newline"),
    [
        ("utf-8", ",", "\n"),
        ("utf-8-sig", ";", "\r\n"),  # Excel's CSV UTF-8 where the decimal mark is a comma
        ("utf-16", "\t", "\r\n"),  # Excel's Unicode Text: little-endian after its mark
        ("utf-16-be", "\t", "\n"),
    ],
)
def test_records_are_read_in_each_encoding_and_delimiter(
    tmp_path: Path, encoding: str, separator: str, newline: str
) -> None:
    path = tmp_path / "rows.csv"
    text = newline.join(separator.join(row) for row in ROWS) + newline
    mark = "\ufeff" if encoding == "utf-16-be" else ""  # the codec writes none of its own
    path.write_bytes((mark + text).encode(encoding))
    assert list(records(path)) == [(1, ROWS[0]), (2, ROWS[1]), (3, ROWS[2])]


def test_the_delimiter_is_the_one_the_header_holds_most_of() -> None:
    assert delimiter("address") == ","
    assert delimiter("address;chain;note, free text") == ";"
    assert delimiter("address\tchain") == "\t"
    assert delimiter("a,b;c") == ","  # of equals, the comma


def test_blank_lines_before_the_header_do_not_hide_its_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("\n\naddress;chain\nA;B\n")
    assert list(records(path)) == [(3, ["address", "chain"]), (4, ["A", "B"])]


def test_a_record_that_cannot_be_read_is_named_and_the_rest_are_read(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    # A quote left open takes in the lines after it until its cell outgrows csv's limit.
    unclosed = '"' + "x" * 200_000
    path.write_text(f"address\n\nfirst\n{unclosed}\nafter\n")
    read = list(records(path))
    assert read[:2] == [(1, ["address"]), (3, ["first"])]  # the blank line is no record
    assert read[2] == (4, "a cell is longer than 131,072 characters: is a quote left open?")
    assert read[3] == (5, ["after"])


def test_a_record_over_several_lines_is_numbered_by_its_last(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text('address,note\na,"two\nlines"\nb,\n')
    assert list(records(path)) == [
        (1, ["address", "note"]),
        (3, ["a", "two\nlines"]),
        (4, ["b", ""]),
    ]


def test_json_lines_are_numbered_read_and_blank_ones_skipped(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes('{"address": "a"}\r\n\r\n[1]\n{"address": \n'.encode("utf-16"))
    read = [(number, text.strip(), row) for number, text, row in json_objects(path)]
    assert read[:2] == [(1, '{"address": "a"}', {"address": "a"}), (3, "[1]", "not a JSON object")]
    assert read[2][:2] == (4, '{"address":')
    assert str(read[2][2]).startswith("not JSON: ")


def test_bytes_that_are_not_text_are_replaced_not_refused(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(b"address\nM\xfcller\n")  # Latin-1, as some exports still write
    assert list(records(path)) == [(1, ["address"]), (2, ["M\ufffdller"])]


def test_a_file_is_told_by_its_suffix_and_a_workbook_refused(tmp_path: Path) -> None:
    assert [
        is_json_lines(Path(name)) for name in ("a.jsonl", "a.NDJSON", "a.csv", "a.tsv", "a.txt")
    ] == [True, True, False, False, False]
    with pytest.raises(ConfigurationError, match="a workbook can be saved as CSV"):
        is_json_lines(tmp_path / "withdrawals.xlsx")


def test_a_table_is_its_header_stripped_and_the_records_after_it(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(" address , chain\nA,B\n")
    line, header, found = table(path)
    assert (line, header, list(found)) == (1, ["address", "chain"], [(2, ["A", "B"])])
    capitalised = tmp_path / "export.csv"
    capitalised.write_text("Amount,Address,CHAIN\n")
    columns = table(capitalised)
    assert (columns.column("address"), columns.column("chain"), columns.column("memo")) == (
        1,
        2,
        None,
    )
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert table(empty)[:2] == (1, [])


def test_a_list_of_addresses_with_no_header_is_one_column_of_them(tmp_path: Path) -> None:
    """As OFAC publishes its addresses by chain: one per line, nothing above them."""
    listed = DATA / "ofac-sdn-2025-11-19" / "sanctioned_addresses_ETH.txt"
    line, header, found = table(listed, addresses_as="wallet")
    rows = list(found)
    assert (line, header) == (0, ["wallet"])
    assert rows[0] == (1, ["0x04DBA1194ee10112fE6C3207C0687DEf0e78baCf"])
    assert len(rows) == len(listed.read_text().split())
    assert table(listed, addresses_as="wallet").lacks(listed, "'txid' column", "") == (
        f"{listed}: no 'txid' column: it is a list of addresses with no header"
    )
    assert table(listed)[:2] == (1, ["0x04DBA1194ee10112fE6C3207C0687DEf0e78baCf"])  # unasked
    headed = tmp_path / "wallets.csv"
    for first in ("address", "wallet", "0x04DBA1194ee10112fE6C3207C0687DEf0e78baCf,ETH",
                  "destination_wallet_address_of_the_payment", "Wallet Address (BTC)"):  # fmt: skip
        headed.write_text(f"{first}\n0x08723392Ed15743cc38513C4925f5e6be5c17243\n")
        assert table(headed, addresses_as="address").line == 1, first


def test_a_list_whose_first_address_is_damaged_is_still_a_list(tmp_path: Path) -> None:
    """Taken for a header, a first address with a typo, or on a chain this project does not
    know, would refuse the whole list; as its first row, it is refused alone."""
    listed = tmp_path / "addresses.txt"
    bad_checksum, bitcoin_gold = (
        "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggv",
        "GPwg61XoHqQPNmAucFACuQ5H9sGCDv9TpS",
    )
    for first in (bad_checksum, bitcoin_gold):  # OFAC lists the Bitcoin Gold one under BTG
        listed.write_text(f"{first}\n0x08723392Ed15743cc38513C4925f5e6be5c17243\n")
        line, header, found = table(listed, addresses_as="address")
        assert (line, header, [row for _, row in found]) == (
            0, ["address"], [[first], ["0x08723392Ed15743cc38513C4925f5e6be5c17243"]],
        ), first  # fmt: skip

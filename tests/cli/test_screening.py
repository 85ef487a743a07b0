"""`feed screen` and `feed check` as an exchange's compliance team runs them: files as
spreadsheets and exports write them, rows that cannot be screened listed beside the rest, a
mirror that is missing or stale, and others' text kept from the terminal."""

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from feed.addresses import parse_address
from feed.errors import ConfigurationError
from feed.mirror import Mirror
from tests.test_addresses import DATA
from tests.test_mirror import BTC, ETH, feed_command
from tests.test_stix import built, flag


def polled_mirror(path: Path, *indicators: dict[str, Any]) -> str:
    """A mirror at `path` that polled one feed holding `indicators`."""
    with Mirror(path) as mirror:
        mirror.register("f", "http://127.0.0.1/", "Feed", None)
        mirror.apply("f", list(indicators), watermark=None, next_token=None, next_added_after=None)
    return str(path)


def test_screen_finds_columns_by_header_and_names_rows_by_line(tmp_path: Path) -> None:
    transactions = tmp_path / "transactions.csv"
    quoted = '"a note\nover two lines"'
    transactions.write_text(
        f"wallet,note,wallet_chain\n{BTC},,BTC\n\nnot-an-address\n,{quoted},ETH\n{ETH},x,\n"
    )
    mirror = polled_mirror(tmp_path / "mirror.db")
    arguments = ["--address-column", "wallet", "--chain-column", "wallet_chain"]
    screened = feed_command("screen", str(transactions), *arguments, "--mirror", mirror, "--json")
    assert screened.returncode == 0, screened.stderr
    summary = json.loads(screened.stdout)
    assert summary["screened"] == 4  # the blank line is no row
    invalid = [(row["line"], row["address"], row["reason"]) for row in summary["invalid"]]
    assert invalid[0][:2] == (4, "not-an-address")
    assert invalid[1] == (6, "", "no address")  # a row ends on the line where its record ends

    missing = feed_command("screen", str(transactions), "--mirror", mirror)
    assert missing.returncode != 0
    assert "line 1: no 'address' column" in missing.stderr


def test_screen_reads_what_spreadsheets_export(tmp_path: Path) -> None:
    mirror = polled_mirror(tmp_path / "mirror.db", built(flag(address=parse_address(ETH, "ETH"))))
    # Excel's Unicode Text: UTF-16 with its mark, tabs, CRLF; and its CSV in a locale whose
    # decimal mark is a comma, which delimits cells by semicolons, under capitalised names.
    unicode_text = tmp_path / "withdrawals.txt"
    unicode_text.write_bytes(f"amount\taddress\tchain\r\n0.5\t{ETH}\tETH\r\n".encode("utf-16"))
    semicolons = tmp_path / "withdrawals.csv"
    semicolons.write_text(f"\ufeffAmount;Address;Chain\n0,5;{ETH};ETH\n", encoding="utf-8")
    for path in (unicode_text, semicolons):
        screened = feed_command("screen", str(path), "--mirror", mirror, "--json")
        assert screened.returncode == 3, screened.stderr
        [hit] = json.loads(screened.stdout)["hits"]
        assert (hit["line"], hit["address"]) == (2, ETH)
    wrong = tmp_path / "wallets.csv"
    wrong.write_text(f"wallet;network\n{ETH};ETH\n")
    missing = feed_command("screen", str(wrong), "--mirror", mirror)
    assert missing.returncode == 1
    assert "line 1: no 'address' column; the header names 'wallet', 'network'" in missing.stderr


def test_a_file_that_holds_no_rows_to_read_is_refused_before_anything_else(
    tmp_path: Path,
) -> None:
    workbook = tmp_path / "withdrawals.xlsx"
    workbook.write_bytes(b"PK\x03\x04" + bytes(100))  # a zip, as every workbook is
    headed = tmp_path / "wallets.csv"
    headed.write_text(f"wallet,owner\n{BTC},x\n")
    kind = f"{workbook}: give a .csv, .tsv or .txt file of rows under a header, or a .jsonl"
    unreachable = ["--url", "http://127.0.0.1:9", "--key", "k.s", "--feed", "f"]
    missing = str(tmp_path / "no-mirror.db")
    for command, refusal in (
        (["screen", str(workbook), "--mirror", missing], kind),
        (["publish", str(workbook), *unreachable], kind),  # not "cannot reach the server"
        (["screen", str(headed), "--mirror", missing], f"{headed}, line 1: no 'address' column"),
        (["publish", str(headed), *unreachable], f"{headed}, line 1: the header needs an address"),
    ):
        done = feed_command(*command)
        assert done.returncode == 1
        assert done.stderr.startswith(f"error: {refusal}"), done.stderr
    assert "a workbook can be saved as CSV" in feed_command("screen", str(workbook)).stderr


def test_a_record_that_cannot_be_read_is_listed_and_the_rows_after_it_screened(
    tmp_path: Path,
) -> None:
    mirror = polled_mirror(tmp_path / "mirror.db", built(flag(address=parse_address(BTC, "BTC"))))
    transactions = tmp_path / "withdrawals.csv"
    transactions.write_text(f'address,note\n{ETH},"left open{"." * 200_000}\n{BTC},\n')
    screened = feed_command("screen", str(transactions), "--mirror", mirror, "--json")
    assert screened.returncode == 3, screened.stderr
    summary = json.loads(screened.stdout)
    assert [hit["line"] for hit in summary["hits"]] == [3]
    assert summary["invalid"] == [
        {"line": 2, "address": "", "reason": "a cell is longer than 131,072 characters: is a "
         "quote left open?"}
    ]  # fmt: skip


def test_a_json_lines_row_that_cannot_be_screened_is_listed_and_the_rest_screened(
    tmp_path: Path,
) -> None:
    mirror = polled_mirror(tmp_path / "mirror.db", built(flag(address=parse_address(BTC, "BTC"))))
    rows = tmp_path / "withdrawals.jsonl"
    rows.write_text(
        f'{{"address": "{BTC}", "chain": 5}}\n{{"address": ["{BTC}"]}}\nnot json\n[1]\n'
        f'{{"address": null}}\n{{"address": "{BTC}", "chain": ""}}\n'
    )
    screened = feed_command("screen", str(rows), "--mirror", mirror, "--json")
    assert screened.returncode == 3, screened.stderr
    summary = json.loads(screened.stdout)
    assert [hit["line"] for hit in summary["hits"]] == [6]
    assert [(row["line"], row["address"], row["reason"]) for row in summary["invalid"]] == [
        (1, BTC, "chain is a JSON int"),
        (2, f'["{BTC}"]', "address is a JSON list"),
        (3, "not json", "not JSON: Expecting value: line 1 column 1 (char 0)"),
        (4, "[1]", "not a JSON object"),
        (5, "", "no address"),
    ]


def test_the_columns_asked_for_are_shown_beside_each_row_listed(tmp_path: Path) -> None:
    """A compliance team acts on a hit by its transaction, not by a line of the export."""
    mirror = polled_mirror(tmp_path / "mirror.db", built(flag(address=parse_address(BTC, "BTC"))))
    table = tmp_path / "deposits.csv"
    table.write_text(f"TxId,Customer,address\n9f2c,c-17,{BTC}\n9f2d,c-18,nonsense\n9f2e\n")
    shown = ["--show-column", "txid", "--show-column", "customer"]
    screened = feed_command("screen", str(table), *shown, "--mirror", mirror, "--json")
    assert screened.returncode == 3, screened.stderr
    summary = json.loads(screened.stdout)
    assert [hit["columns"] for hit in summary["hits"]] == [{"txid": "9f2c", "customer": "c-17"}]
    assert [row["columns"] for row in summary["invalid"]] == [
        {"txid": "9f2d", "customer": "c-18"},
        {"txid": "9f2e", "customer": None},  # a short row lacks the cell
    ]
    printed = feed_command("screen", str(table), *shown, "--mirror", mirror).stdout.splitlines()
    assert printed[0].startswith(f"line 2, txid 9f2c, customer c-17: {BTC}\tHIT\t")
    assert printed[2].startswith("line 4, txid 9f2e, customer -: \tinvalid\tno address")
    unasked = json.loads(feed_command("screen", str(table), "--mirror", mirror, "--json").stdout)
    assert "columns" not in unasked["hits"][0]

    lines = tmp_path / "deposits.jsonl"
    lines.write_text(f'{{"address": "{BTC}", "txid": 40, "customer": "c-17"}}\n[1]\n')
    screened = feed_command("screen", str(lines), *shown, "--mirror", mirror, "--json")
    summary = json.loads(screened.stdout)
    assert summary["hits"][0]["columns"] == {"txid": "40", "customer": "c-17"}
    assert summary["invalid"][0]["columns"] == {"txid": None, "customer": None}

    # A header without the column is refused before the mirror is opened.
    absent = feed_command("screen", str(table), "--show-column", "amount", "--mirror", "none.db")
    assert absent.returncode == 1
    assert absent.stderr.startswith(
        f"error: {table}, line 1: no 'amount' column; the header names 'TxId', 'Customer', "
        "'address'"
    )


def test_a_list_of_addresses_with_no_header_is_screened_whole(tmp_path: Path) -> None:
    listed = DATA / "ofac-sdn-2025-11-19" / "sanctioned_addresses_ETH.txt"
    first = listed.read_text().split()[0]
    mirror = polled_mirror(tmp_path / "mirror.db", built(flag(address=parse_address(first, "ETH"))))
    screened = feed_command("screen", str(listed), "--mirror", mirror, "--json")
    assert screened.returncode == 3, screened.stderr
    summary = json.loads(screened.stdout)
    assert summary["screened"] == len(listed.read_text().split())
    assert [(hit["line"], hit["address"]) for hit in summary["hits"]] == [(1, first)]
    # A first address with a typo is that list's first row, refused alone.
    damaged = tmp_path / "damaged.txt"
    damaged.write_text(listed.read_text().replace(first, first[:-1] + "0", 1))
    screened = feed_command("screen", str(damaged), "--mirror", mirror, "--json")
    assert screened.returncode == 0, screened.stderr
    summary = json.loads(screened.stdout)
    assert summary["screened"] == len(listed.read_text().split())
    assert [(bad["line"], "EIP-55" in bad["reason"]) for bad in summary["invalid"]] == [(1, True)]


def test_screening_warns_of_a_feed_not_polled_for_a_day(tmp_path: Path) -> None:
    mirror = polled_mirror(tmp_path / "mirror.db", built(flag(address=parse_address(BTC, "BTC"))))
    fresh = feed_command("check", BTC, "--mirror", mirror)
    assert (fresh.returncode, fresh.stderr) == (3, "")
    with sqlite3.connect(mirror) as db:
        db.execute("UPDATE feeds SET last_poll = '2026-01-01T00:00:00.000000Z'")
    rows = tmp_path / "rows.csv"
    rows.write_text(f"address\n{BTC}\n")
    for command in (["check", BTC], ["screen", str(rows)]):
        stale = feed_command(*command, "--mirror", mirror)
        assert stale.returncode == 3  # still screened, against what the mirror holds
        assert stale.stderr.startswith("warning: Feed was last polled ")
        assert "(2026-01-01T00:00:00.000000Z); what it flagged since is not" in stale.stderr


def test_screening_needs_a_mirror_that_was_polled(tmp_path: Path) -> None:
    # A mistyped --mirror made an empty mirror there, and every address passed unflagged.
    missing = tmp_path / "mirorr.db"
    rows = tmp_path / "rows.csv"
    rows.write_text(f"address\n{BTC}\n")
    indicator = "indicator--0b5e4b14-3f4b-5b4e-8e3a-0c1d2e3f4a5b"
    for command in (
        ["check", BTC],
        ["screen", str(rows)],
        ["report-hit", indicator, "--key", "k.s"],
    ):
        done = feed_command(*command, "--mirror", str(missing))
        assert (done.returncode, done.stdout) == (1, ""), done.stderr
        assert f"no mirror at {missing}: `feed poll` makes one" in done.stderr
    assert not missing.exists()
    with Mirror(tmp_path / "mirror.db") as never_polled:
        for screener in (never_polled.screener, never_polled.key_screener):
            with pytest.raises(ConfigurationError, match="holds no feed it has polled"):
                screener()
    checked = feed_command("check", BTC, "--mirror", str(tmp_path / "mirror.db"))
    assert (checked.returncode, checked.stdout) == (1, "")
    assert "run `feed poll` first" in checked.stderr
    # The transactions given as the mirror, and a mirror where none can be made.
    for path in (rows, tmp_path / "no-such-directory" / "mirror.db"):
        with pytest.raises(ConfigurationError, match=f"cannot open the mirror {path}: "):
            Mirror(path)
    assert rows.read_text() == f"address\n{BTC}\n"


def test_screen_output_keeps_a_row_s_text_from_moving_the_terminal(tmp_path: Path) -> None:
    # A customer types the address of a withdrawal: written raw, its control characters
    # could move the cursor up and erase the hit above it, or print lines of their own.
    mirror_path = polled_mirror(
        tmp_path / "mirror.db", built(flag(address=parse_address(BTC, "BTC")))
    )
    hostile = "\x1b[1A\x1b[2K0 rows screened\n\u202eugga"
    transactions = tmp_path / "withdrawals.csv"
    transactions.write_text(f'address\n{BTC}\n"{hostile}"\n', encoding="utf-8")
    screened = feed_command("screen", str(transactions), "--mirror", mirror_path)
    assert screened.returncode == 3, screened.stderr  # a hit
    lines = screened.stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"line 2: {BTC}\tHIT\t")
    assert lines[1].startswith("line 4: \\x1b[1A\\x1b[2K0 rows screened\\n\\u202eugga\tinvalid")
    assert lines[2] == "2 rows screened: 1 hit, 1 invalid"
    assert "\x1b" not in screened.stdout
    assert "\u202e" not in screened.stdout


def test_a_cell_longer_than_any_address_is_clipped_where_it_is_shown(tmp_path: Path) -> None:
    # A column of notes taken for the addresses: each long cell was printed whole, twice.
    mirror_path = polled_mirror(
        tmp_path / "mirror.db", built(flag(address=parse_address(BTC, "BTC")))
    )
    cell = "1" + "x" * 99_999  # as long as a command's argument may be
    transactions = tmp_path / "withdrawals.csv"
    transactions.write_text(f"address\n{cell}\n{BTC}\n")
    screened = feed_command("screen", str(transactions), "--mirror", mirror_path)
    checked = feed_command("check", cell, "--mirror", mirror_path)
    assert (screened.returncode, checked.returncode) == (3, 1)
    invalid = screened.stdout.splitlines()[1]
    assert invalid.startswith("line 2: 1xxx")
    assert "\tinvalid\t1xxx" in invalid
    assert len(invalid) < 400
    assert checked.stdout.startswith("1xxx")
    assert len(checked.stdout) < 400
    as_json = json.loads(
        feed_command("screen", str(transactions), "--mirror", mirror_path, "--json").stdout
    )
    assert as_json["invalid"][0]["address"] == cell  # the data as it is, for a program

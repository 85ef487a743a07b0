"""Screening against the local mirror, as an exchange's compliance team runs it: `feed check`
of addresses given, `feed screen` of a file of transactions.

Exit status: 0 no hit, 3 at least one hit, 1 an error (an address that is no address at all,
in check)."""

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import click

from feed.addresses import LONGEST_SHOWN, Address, parse_address, readings_in
from feed.cli.base import (
    HIT,
    age,
    json_option,
    main,
    mirror_option,
    reports_errors,
    shown,
)
from feed.errors import ConfigurationError, InvalidAddress, clipped, counted
from feed.mirror import Mirror
from feed.rowfiles import Record, is_json_lines, json_objects, table
from feed.screener import KeyScreener, Match
from feed.taxii import now_micros, parse_timestamp

# Pollers run every minute or hour: a feed not polled for a day has most likely stopped
# being polled, and what it flagged since is not screened.
STALE_AFTER_SECONDS = 86400


def _readings(text: str, chain: str | None) -> Iterable[Address]:
    """Every address `text` may be, on `chain` or on any chain; none if it is invalid (the
    screener says why)."""
    try:
        return [parse_address(text, chain)] if chain else readings_in(text) or ()
    except InvalidAddress:
        return ()


def _match_json(match: Match) -> dict[str, Any]:
    return match._asdict()


def _match_line(match: Match) -> str:
    watchdog = match.watchdog_name or match.watchdog or "?"
    return (
        f"{shown(match.feed)}\t{shown(watchdog)}\t{shown(str(match.category))}\t"
        f"confidence {match.confidence}\t{match.indicator_id}@{match.version}"
    )


@main.command()
@click.argument("addresses", nargs=-1, required=True)
@click.option("--chain", help="Ticker, chain or CAIP-2 id; by default every chain that fits.")
@mirror_option
@json_option
@reports_errors
def check(addresses: tuple[str, ...], chain: str | None, mirror_path: Path, as_json: bool) -> None:
    """Say whether each ADDRESS is flagged in the mirror, and by which indicators."""
    with Mirror(mirror_path, create=False) as mirror:
        screener = mirror.screener(only=[a for text in addresses for a in _readings(text, chain)])
        _warn_if_stale(mirror)
    results: list[dict[str, Any]] = []
    hit = invalid = False
    for text in addresses:
        try:
            matches = screener.screen(text, chain)
        except InvalidAddress as error:
            invalid = True
            results.append({"address": text, "invalid": error.description})
            if not as_json:
                written = shown(clipped(text, LONGEST_SHOWN))
                click.echo(f"{written}\tinvalid\t{shown(error.description)}")
            continue
        hit = hit or bool(matches)
        results.append({"address": text, "matches": [_match_json(m) for m in matches]})
        for match in [] if as_json else matches:
            click.echo(f"{shown(text)}\tHIT\t{_match_line(match)}")
        if not matches and not as_json:
            click.echo(f"{shown(text)}\tno hit")
    if as_json:
        click.echo(json.dumps(results, indent=2))
    if hit:
        sys.exit(HIT)
    if invalid:
        sys.exit(1)


def _warn_if_stale(mirror: Mirror) -> None:
    """Say on stderr which feeds have not been polled for a day: screening goes on, against
    what the mirror held when they were."""
    now = now_micros()
    for feed, polled in mirror.last_polls().items():
        seconds = (now - parse_timestamp(polled)) / 1e6
        if seconds > STALE_AFTER_SECONDS:
            click.echo(
                f"warning: {shown(feed)} was last polled {age(seconds)} ago ({polled}); what "
                "it flagged since is not screened",
                err=True,
            )


# A record as read: a CSV row's cells, a JSON Lines row's object; None for a line that is
# no row.
_Record = list[str] | dict[str, Any] | None
# A row to screen: its line, its address and chain as written, why it cannot be screened at
# all (if it cannot), and its record, from which the columns to show are picked for the rows
# listed alone.
_Row = tuple[int, str, str | None, str | None, _Record]


class _Transactions(NamedTuple):
    rows: Iterator[_Row]
    shown_columns: Callable[[_Record], dict[str, str | None]]


def _transactions(
    path: Path, address_column: str, chain_column: str, shown_columns: Sequence[str]
) -> _Transactions:
    """Each row of a CSV (with a header) or JSON Lines file, and how to pick `shown_columns`
    from its record. A CSV header that lacks a column asked for is refused before any row is
    read; a JSON Lines row that lacks one shows it as null."""
    if is_json_lines(path):
        found = json_objects(path)
        return _Transactions(
            (_json_row(*line, address_column, chain_column) for line in found),
            partial(_json_columns, shown_columns),
        )
    read = table(path, addresses_as=address_column)
    address_at = read.column(address_column)
    shown_at = {name: read.column(name) for name in shown_columns}
    absent = [name for name, at in {address_column: address_at, **shown_at}.items() if at is None]
    if address_at is None or absent:
        columns = f"{', '.join(map(repr, absent))} column"
        raise ConfigurationError(
            read.lacks(path, columns, clipped(", ".join(map(repr, read.header))))
        )
    rows = _cells(read.records, address_at, read.column(chain_column))
    return _Transactions(rows, partial(_cells_shown, shown_at))


def _cells(found: Iterator[Record], address_at: int, chain_at: int | None) -> Iterator[_Row]:
    # Rows as lists, not dicts: a million of them cost seconds as dicts.
    for line, cells in found:
        if isinstance(cells, str):
            yield line, "", None, cells, None
            continue
        width = len(cells)
        address = cells[address_at] if address_at < width else ""
        chain = cells[chain_at] if chain_at is not None and chain_at < width else ""
        yield line, address, chain or None, None, cells


def _cells_shown(at: dict[str, int | None], record: _Record) -> dict[str, str | None]:
    cells = record if isinstance(record, list) else []
    return {
        name: cells[column] if column is not None and column < len(cells) else None
        for name, column in at.items()
    }


def _json_row(
    number: int, line: str, row: dict[str, Any] | str, address_column: str, chain_column: str
) -> _Row:
    if isinstance(row, str):
        return number, line.strip(), None, row, None
    address, chain = row.get(address_column), row.get(chain_column)
    written = address if isinstance(address, str) else json.dumps(address)
    for column, value in ((address_column, address), (chain_column, chain)):
        if value is not None and not isinstance(value, str):
            return number, written, None, f"{column} is a JSON {type(value).__name__}", row
    return number, address or "", chain or None, None, row


def _json_columns(names: Sequence[str], record: _Record) -> dict[str, str | None]:
    """The values of `names` in a JSON Lines row, as written there: a string as it is,
    another value as JSON, null (or no such key) as None."""
    row = record if isinstance(record, dict) else {}
    values = {name: row.get(name) for name in names}
    return {
        name: None if value is None else value if isinstance(value, str) else json.dumps(value)
        for name, value in values.items()
    }


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--address-column", default="address", show_default=True)
@click.option("--chain-column", default="chain", show_default=True)
@click.option(
    "--show-column",
    "shown_columns",
    multiple=True,
    help="A column shown beside each row listed, such as a transaction id (repeatable).",
)
@mirror_option
@json_option
@reports_errors
def screen(
    file: Path,
    address_column: str,
    chain_column: str,
    shown_columns: tuple[str, ...],
    mirror_path: Path,
    as_json: bool,
) -> None:
    """Screen the transactions in a CSV or JSON Lines FILE: every row whose address is flagged.

    Rows need an address column (a file of bare addresses, one a line, is one) and may name a
    chain; rows whose address is invalid are listed apart, and never stop the others. Each row
    listed is named by its line, and by the values of each --show-column."""
    # The file's kind and header are checked before the mirror is opened.
    transactions = _transactions(file, address_column, chain_column, shown_columns)
    with Mirror(mirror_path, create=False) as mirror:
        screener = mirror.key_screener()
        _warn_if_stale(mirror)
        screened, hits, invalid = _screen_rows(screener, transactions, bool(shown_columns))
    if as_json:
        hits_json = [{**h, "matches": [_match_json(m) for m in h["matches"]]} for h in hits]
        summary = {"screened": screened, "hits": hits_json, "invalid": invalid}
        click.echo(json.dumps(summary, indent=2))
    else:
        for hit in hits:
            for match in hit["matches"]:
                address = shown(hit["address"])
                click.echo(f"{_place(hit)}: {address}\tHIT\t{_match_line(match)}")
        for bad in invalid:
            address = shown(clipped(bad["address"], LONGEST_SHOWN))
            reason = shown(bad["reason"])
            click.echo(f"{_place(bad)}: {address}\tinvalid\t{reason}")
        click.echo(
            f"{counted(screened, 'row')} screened: {counted(len(hits), 'hit')}, "
            f"{len(invalid)} invalid"
        )
    if hits:
        sys.exit(HIT)


def _place(listed: dict[str, Any]) -> str:
    """Where a row listed is: "line 7", or "line 7, txid 9f2c..." with columns shown."""
    values = listed.get("columns", {}).items()
    return ", ".join(
        [f"line {listed['line']}"]
        + [f"{shown(clipped(name))} {shown(clipped(value or '-'))}" for name, value in values]
    )


def _screen_rows(
    screener: KeyScreener, transactions: _Transactions, showing: bool
) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
    screened = 0
    hits: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []

    def listed(line: int, address: str, record: _Record, **more: Any) -> dict[str, Any]:
        columns = {"columns": transactions.shown_columns(record)} if showing else {}
        return {"line": line, "address": address, **columns, **more}

    for line, address, chain, unreadable, record in transactions.rows:
        screened += 1
        if unreadable or not address.strip():
            invalid.append(listed(line, address, record, reason=unreadable or "no address"))
            continue
        try:
            matches = screener.screen(address, chain)
        except InvalidAddress as error:
            invalid.append(listed(line, address, record, reason=error.description))
            continue
        if matches:
            hits.append(listed(line, address, record, matches=matches))
    return screened, hits, invalid

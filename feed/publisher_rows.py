"""A watchdog's file of flagged addresses as `feed publish` reads it: one row per address, CSV
under a header or JSON Lines, in the columns of `Row`.

A column the publisher does not know is refused rather than dropped: a misspelt `action` or
`valid_until` would otherwise flag what was meant to be revoked, or lapse when it was not
meant to. Columns that are not for publishing (an export's amounts, an analyst's notes) are
named to be left out. Defaults fill the columns a row leaves empty, so that a list of one
kind needs no category column and a list of one chain no chain column."""

from collections.abc import Collection, Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from feed.errors import ConfigurationError, clipped, describe_problems
from feed.rowfiles import Record, is_json_lines, json_objects, table
from feed.stix import Category, Tlp


class Action(StrEnum):
    FLAG = "flag"
    REVOKE = "revoke"


class Row(BaseModel):
    """One line of a publisher's CSV or JSON Lines file."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    address: str = Field(min_length=1, description="The address, in any accepted form.")
    chain: str | None = Field(
        None, description="Ticker, chain name or CAIP-2 id; detected from the address if absent."
    )
    category: Category | None = Field(None, description="Why it is flagged; needed to flag.")
    confidence: int | None = Field(None, ge=0, le=100, description="Default: by category.")
    valid_until: AwareDatetime | None = Field(
        None, description="When the flag lapses; default: by category (sanctions never)."
    )
    description: str | None = Field(None, max_length=10_000)
    reference: str | None = Field(None, max_length=2_000, description="A URL or an identifier.")
    tlp: Tlp = Field(Tlp.AMBER_STRICT, description="TLP 2.0 level.")
    action: Action = Field(Action.FLAG, description="flag (or update) or revoke.")
    asset: str | None = Field(None, max_length=32, description="The ticker the source used.")
    source: str | None = Field(None, max_length=64, description="The list the flag comes from.")


COLUMNS = frozenset(Row.model_fields)
# A row as read: its line number, and its fields or why the line is not a row.
NumberedRow = tuple[int, dict[str, Any] | str]


def read_rows(
    path: Path, *, ignored: Collection[str] = (), defaults: Iterable[tuple[str, str]] = ()
) -> Iterator[NumberedRow]:
    """(line number, fields) per row of a CSV (with a header) or JSON Lines file, or (line
    number, reason) for a line that is not a row at all. The columns `ignored` are left out
    (matched whatever their case, as column names are); `defaults`, (column, value) pairs,
    fill the columns a row leaves empty. A file of neither kind, or a default or a column to
    leave out that it cannot take, is refused at once, before any row is read."""
    left_out = _left_out(ignored)
    filling = _checked_defaults(defaults)
    found = _json_lines(path, left_out) if is_json_lines(path) else _csv_rows(path, left_out)
    return _filled(found, filling) if filling else found


def _left_out(ignored: Collection[str]) -> frozenset[str]:
    names = frozenset(name.strip().casefold() for name in ignored)
    if "address" in names:
        raise ConfigurationError("the address column cannot be left out: it is what is flagged")
    return names


def _checked_defaults(defaults: Iterable[tuple[str, str]]) -> dict[str, str]:
    """`defaults` by column name: one for a column, each a value a row could give; else a
    ConfigurationError."""
    filling: dict[str, str] = {}
    for name, value in defaults:
        column = name.strip().casefold()
        if column in filling:
            raise ConfigurationError(f"column {clipped(column)} is given two defaults")
        filling[column] = value.strip()
    unknown = sorted(set(filling) - COLUMNS)
    if unknown:
        raise ConfigurationError(
            f"no column {clipped(', '.join(unknown))} to give a default; the columns are "
            f"{', '.join(sorted(COLUMNS - {'address'}))}"
        )
    if "address" in filling:
        raise ConfigurationError("the address cannot have a default: each row names its own")
    try:
        Row.model_validate({"address": "-", **filling})
    except ValidationError as error:
        raise ConfigurationError(f"default {describe_problems(error.errors(), 'row')}") from None
    return filling


def _filled(rows: Iterator[NumberedRow], filling: dict[str, str]) -> Iterator[NumberedRow]:
    for line, fields in rows:
        if isinstance(fields, str):
            yield line, fields
        else:  # JSON's null is an empty cell
            yield line, filling | {name: v for name, v in fields.items() if v is not None}


def _json_lines(path: Path, left_out: frozenset[str]) -> Iterator[NumberedRow]:
    for number, _, row in json_objects(path):
        if isinstance(row, dict) and left_out:
            row = {name: value for name, value in row.items() if name.casefold() not in left_out}
        yield number, row


def _csv_rows(path: Path, left_out: frozenset[str]) -> Iterator[NumberedRow]:
    """The rows under a CSV file's header, the header checked now, before any row is read."""
    read = table(path, addresses_as="address")
    given, found = read.header, read.records
    header = [name.casefold() for name in given]  # as spreadsheets capitalise them
    absent = sorted(left_out - set(header))
    if absent:
        columns = f"column {clipped(', '.join(absent))} to leave out"
        raise ConfigurationError(read.lacks(path, columns, clipped(", ".join(given))))
    unknown = sorted(set(header) - COLUMNS - left_out)
    if unknown or "address" not in header:
        raise ConfigurationError(
            f"{path}, line {read.line}: the header needs an address column and may name only "
            f"{', '.join(sorted(COLUMNS))}; unknown: {clipped(', '.join(unknown)) or 'none'}"
            + (" (--ignore-column leaves out one that is not for publishing)" if unknown else "")
        )
    return _rows_under(header, left_out, found)


def _rows_under(
    header: list[str], left_out: frozenset[str], found: Iterator[Record]
) -> Iterator[NumberedRow]:
    for line, cells in found:
        if isinstance(cells, str):
            yield line, cells
        elif len(cells) > len(header):
            yield line, "more cells than the header has columns"
        else:
            yield (
                line,
                {
                    name: cell
                    for name, cell in zip(header, cells, strict=False)
                    if cell and name not in left_out
                },
            )

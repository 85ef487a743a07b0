"""The files of rows people hand the command line: JSON Lines, or CSV with a header, as
spreadsheets and exports write it.

A file is UTF-8, with or without a byte-order mark, or UTF-16 with one (Excel's "Unicode
Text"). A CSV file's cells are delimited by commas, semicolons (Excel's CSV where the decimal
mark is a comma) or tabs ("Unicode Text" again): by whichever of them its header line holds
most of, commas if none. A record the csv module cannot read (a cell longer than its limit, as
a quote left open makes of the rest of a file) is given with the reason, and reading goes on
at the next line, so that the rows after it are not lost. A file of addresses one per line,
with no header (as OFAC's lists by chain are), is read as one column of addresses."""

import codecs
import csv
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from feed.addresses import looks_like_address
from feed.errors import ConfigurationError

DELIMITERS = ",;\t"
JSON_LINES = (".jsonl", ".ndjson")
DELIMITED = (".csv", ".tsv", ".txt")
_UTF16_MARKS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)

# (line, cells) of a record, on the line where it ends; or (line, why it cannot be read).
Record = tuple[int, list[str] | str]


class Table(NamedTuple):
    """A CSV file: its header's line (0: none, a list of addresses) and names (stripped; none
    in an empty file), and the records after it."""

    line: int
    header: list[str]
    records: Iterator["Record"]

    def lacks(self, path: Path, columns: str, names: str) -> str:
        """A message that the file has no `columns`, saying where its header is and what it
        `names` (as the message shows names)."""
        if not self.line:
            return f"{path}: no {columns}: it is a list of addresses with no header"
        return f"{path}, line {self.line}: no {columns}; the header names {names or 'nothing'}"

    def column(self, name: str) -> int | None:
        """Where the column `name` is, matched regardless of case (spreadsheets capitalise
        their headers); None where there is none."""
        wanted = name.casefold()
        return next(
            (at for at, given in enumerate(self.header) if given.casefold() == wanted), None
        )


def is_json_lines(path: Path) -> bool:
    """Whether the file is JSON Lines, not rows under a header, by its suffix; a file named as
    neither, such as a workbook, is a ConfigurationError."""
    suffix = path.suffix.lower()
    if suffix in JSON_LINES or suffix in DELIMITED:
        return suffix in JSON_LINES
    raise ConfigurationError(
        f"{path}: give a .csv, .tsv or .txt file of rows under a header, or a .jsonl "
        "(JSON Lines) file; a workbook can be saved as CSV"
    )


def table(path: Path, *, addresses_as: str | None = None) -> Table:
    """The file's header and records. With `addresses_as`, a file whose first line is one
    address, not a header, is a list of addresses: one column of that name, with no header.
    A first address that is damaged is such a list's first row too, refused on its own."""
    found = records(path)
    line, first = next(found, (1, []))
    if not isinstance(first, list):
        return Table(line, [], found)
    if addresses_as is not None and len(first) == 1 and looks_like_address(first[0].strip()):
        return Table(0, [addresses_as], itertools.chain([(line, first)], found))
    return Table(line, [name.strip() for name in first], found)


def _opened(path: Path) -> TextIO:
    with path.open("rb") as head:
        start = head.read(2)
    # utf-16 reads its mark to tell the byte order, utf-8-sig drops one if there is one.
    encoding = "utf-16" if start in _UTF16_MARKS else "utf-8-sig"
    return path.open(newline="", encoding=encoding, errors="replace")


def json_objects(path: Path) -> Iterator[tuple[int, str, dict[str, Any] | str]]:
    """(line number, text, object) of every line of a JSON Lines file that is not blank; in
    the object's place, why the line is none."""
    with _opened(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as error:
                yield number, line, f"not JSON: {error}"
                continue
            yield number, line, value if isinstance(value, dict) else "not a JSON object"


def delimiter(header: str) -> str:
    """Which of DELIMITERS a header line holds most of; a comma if it holds none."""
    return max(DELIMITERS, key=header.count)  # the first of equals: a comma if none


def records(path: Path) -> Iterator[Record]:
    """The records of a CSV file, its header first; blank lines are no record."""
    with _opened(path) as handle:
        head = [handle.readline()]
        while head[-1] and not head[-1].strip():  # blank lines before the header
            head.append(handle.readline())
        reader = csv.reader(itertools.chain(head, handle), delimiter=delimiter(head[-1]))
        while True:
            try:
                cells = next(reader, None)
            except csv.Error as error:
                yield reader.line_num, _unreadable(error)
                continue
            if cells is None:
                return
            if cells:
                yield reader.line_num, cells


def _unreadable(error: csv.Error) -> str:
    if str(error).startswith("field larger than field limit"):
        return f"a cell is longer than {csv.field_size_limit():,} characters: is a quote left open?"
    return f"not CSV: {error}"

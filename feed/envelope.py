"""TAXII envelopes as bytes, both ways, without re-serialising any object.

Incoming: the envelope is parsed once, and the byte span of every element of its `objects`
list is noted on the way, so each object is stored exactly as it was sent. An envelope written
compactly, as orjson writes it (our publisher's), is parsed in C and each object's bytes are its
own serialisation, proven equal to what was received; any other is read by a scanner that notes
the spans, and refused by it, saying why, when it is not what every reader takes alike.
Outgoing: stored JSON is spliced into the page unchanged, and a client's serialised objects
into envelopes that fit a server's limit.
"""

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import orjson

from feed.errors import BadRequest, ConfigurationError, quoted

# Integers a 64-bit reader takes exactly; beyond them parsers round or refuse, and what was
# checked could differ from what a reader sees.
_SMALLEST, _LARGEST = -(2**63), 2**64 - 1
ENVELOPE_OVERHEAD = len(b'{"objects":[]}')
# TAXII advertises no object limit; this many stays well under any server's (ours: 10,000).
ENVELOPE_OBJECTS = 1000
# A \u escape of a UTF-16 surrogate: legal alone only as half of a pair.
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


class _Refused(ValueError):
    pass


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Refuse an object that names a key twice: parsers disagree on which value wins."""
    value = dict(pairs)
    if len(value) != len(pairs):
        keys = [key for key, _ in pairs]
        repeated = next(key for key in keys if keys.count(key) > 1)
        raise _Refused(f"the key {quoted(repeated)} appears twice in one object")
    return value


def _integer(text: str) -> int:
    number = int(text)
    if not _SMALLEST <= number <= _LARGEST:
        raise _Refused(f"the integer {text} is outside the 64-bit range")
    return number


def _constant(name: str) -> None:
    raise _Refused(f"{name} is not JSON")


# The C scanner of the standard library: values and where each ends, in one pass.
_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_int=_integer, parse_constant=_constant)


class Item(NamedTuple):  # a thousand an envelope: a tuple builds in a fraction of the time
    """One element of an incoming `objects` list: its parsed value and its exact bytes."""

    value: Any
    raw: bytes


def parse_envelope(raw: bytes) -> list[Item]:
    """The elements of an envelope's `objects` list. Elements that are not JSON objects are
    kept (with empty bytes) so the caller can report them by position."""
    compact = _compact(raw)
    if compact is not None:
        return compact
    try:
        text = raw.decode()
    except UnicodeDecodeError as error:
        raise BadRequest(
            f"the request body is not valid JSON: it is not UTF-8 (byte {error.start} is invalid)"
        ) from None
    if _SURROGATE.search(text):
        _strict(raw)
    scanner = _Scanner(text)
    try:
        items = scanner.envelope()
    except _Refused as error:
        raise BadRequest(f"the request body is refused: {error}") from None
    except (json.JSONDecodeError, IndexError):
        raise BadRequest(f"the request body is not valid JSON near {scanner.where()}") from None
    except RecursionError:
        raise BadRequest(f"the request body is nested too deeply near {scanner.where()}") from None
    if items is None:
        raise BadRequest("the envelope must have an `objects` list with at least one object")
    return items


_COMPACT_HEAD, _COMPACT_TAIL = b'{"objects":[', b"]}"


def _compact(raw: bytes) -> list[Item] | None:
    """The items of an envelope that is byte for byte what orjson writes of what it parses
    from it, else None. That equality leaves no key named twice, no integer beyond 64 bits
    (orjson reads those as floats, written back otherwise) and no other spelling to refuse."""
    if not (raw.startswith(_COMPACT_HEAD) and raw.endswith(_COMPACT_TAIL)):
        return None  # spaced, as by json.dumps: not parsed twice
    try:
        envelope = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(envelope) is not dict or len(envelope) != 1:
        return None
    values = envelope.get("objects")
    if type(values) is not list or not values:
        return None
    written = list(map(orjson.dumps, values))
    if _COMPACT_HEAD + b",".join(written) + _COMPACT_TAIL != raw:
        return None
    pairs = zip(values, written, strict=True)
    return [Item(value, own if type(value) is dict else b"") for value, own in pairs]


def _strict(raw: bytes) -> None:
    """Refuse a lone surrogate escape, which strict readers reject."""
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"the request body is not valid JSON: {error}") from None


class _Scanner:
    """Walks the envelope object, decoding each member with the C scanner and noting the span
    of each element of `objects`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.index = 0

    def where(self) -> str:
        line = self.text.count("\n", 0, self.index) + 1
        column = self.index - self.text.rfind("\n", 0, self.index)
        return f"line {line} column {column}"

    def _skip(self) -> str:
        text, index = self.text, self.index
        while index < len(text) and text[index] in " \t\n\r":
            index += 1
        self.index = index
        return text[index] if index < len(text) else ""

    def _comma(self, *, first: bool) -> None:
        """Step over the comma before every member or element but the first."""
        if first:
            return
        if self.text[self.index] != ",":
            raise json.JSONDecodeError("expected ,", self.text, self.index)
        self.index += 1
        self._skip()

    def _value(self) -> Any:
        value, self.index = _DECODER.raw_decode(self.text, self.index)
        return value

    def envelope(self) -> list[Item] | None:
        if self._skip() != "{":
            raise BadRequest("the request body must be a TAXII envelope: a JSON object")
        self.index += 1
        items: list[Item] | None = None
        seen: set[str] = set()
        while self._skip() != "}":
            self._comma(first=not seen)
            key = self._value()
            if not isinstance(key, str):
                raise json.JSONDecodeError("expected a key", self.text, self.index)
            if key in seen:
                raise _Refused(f"the key {quoted(key)} appears twice in the envelope")
            seen.add(key)
            if self._skip() != ":":
                raise json.JSONDecodeError("expected :", self.text, self.index)
            self.index += 1
            if key == "objects" and self._skip() == "[":
                items = self._elements()
            else:
                self._skip()
                self._value()
        self.index += 1
        if self._skip():
            raise json.JSONDecodeError("extra data", self.text, self.index)
        return items or None

    def _elements(self) -> list[Item]:
        self.index += 1
        items: list[Item] = []
        while self._skip() != "]":
            self._comma(first=not items)
            start = self.index
            value = self._value()
            raw = self.text[start : self.index].encode() if isinstance(value, dict) else b""
            items.append(Item(value, raw))
        self.index += 1
        return items


def page(items: Sequence[bytes], *, key: str, more: bool, next_token: str | None) -> bytes:
    """A page as JSON bytes, items (JSON, UTF-8) spliced in as stored. An empty page is
    `{"more": false}` with no list, since TAXII forbids empty lists."""
    if more and next_token:
        head = f'{{"more":true,"next":"{next_token}"'
    else:
        head = '{"more":' + ("true" if more else "false")
    if not items:
        return (head + "}").encode()
    # One join of the megabyte, not a copy per concatenation.
    parts = list(items)
    parts[0] = f'{head},"{key}":['.encode() + parts[0]
    parts[-1] += b"]}"
    return b",".join(parts)


def envelopes(
    objects: list[bytes], max_bytes: int, max_count: int = ENVELOPE_OBJECTS
) -> Iterator[tuple[bytes, int]]:
    """Envelopes of whole objects, each at most `max_bytes` long and `max_count` objects, with
    how many objects each holds. An object that cannot fit even alone is an error: a server
    would refuse it (413)."""
    batch: list[bytes] = []
    size = ENVELOPE_OVERHEAD
    for item in objects:
        if ENVELOPE_OVERHEAD + len(item) > max_bytes:
            object_id = json.loads(item).get("id")
            raise ConfigurationError(
                f"{object_id} is {len(item)} bytes; the server takes at most {max_bytes}"
            )
        if batch and (size + len(item) + 1 > max_bytes or len(batch) == max_count):
            yield b'{"objects":[' + b",".join(batch) + b"]}", len(batch)
            batch, size = [], ENVELOPE_OVERHEAD
        size += len(item) + (1 if batch else 0)
        batch.append(item)
    if batch:
        yield b'{"objects":[' + b",".join(batch) + b"]}", len(batch)

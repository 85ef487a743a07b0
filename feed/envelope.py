"""TAXII envelopes as bytes, both ways, without re-serialising any object.

Incoming: the envelope is parsed once (orjson) for validation, and the byte span of every
element of its `objects` list is located so each object is stored exactly as it was sent.
Outgoing: stored JSON is spliced into the page unchanged.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from feed.errors import BadRequest


class DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> None:
    """Refuse an object that names a key twice: parsers disagree on which value wins, so what
    was validated could differ from what a reader sees."""
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        repeated = next(key for key in keys if keys.count(key) > 1)
        raise DuplicateKey(f"the key {repeated!r} appears twice in one object")


# Finds where each value ends, in C, building no dicts, and refuses duplicate keys.
_SCANNER = json.JSONDecoder(object_pairs_hook=_no_duplicates)


def _skip(text: str, index: int) -> int:
    """The index of the first character at or after `index` that is not JSON whitespace."""
    while text[index] in " \t\n\r":
        index += 1
    return index


@dataclass(frozen=True)
class Item:
    """One element of an incoming `objects` list: its parsed value and its exact bytes."""

    value: Any
    raw: bytes


def parse_envelope(raw: bytes) -> list[Item]:
    """The elements of an envelope's `objects` list. Elements that are not JSON objects are
    kept (with empty bytes) so the caller can report them by position."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"the request body is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise BadRequest("the request body must be a TAXII envelope: a JSON object")
    objects = document.get("objects")
    if not isinstance(objects, list) or not objects:
        raise BadRequest("the envelope must have an `objects` list with at least one object")
    # Valid UTF-8 (orjson checked it) decodes and re-encodes to the very same bytes.
    text = raw.decode()
    try:
        spans = iter(_object_spans(text))
    except DuplicateKey as error:
        raise BadRequest(f"the request body is ambiguous: {error}") from None
    items = []
    for value in objects:
        start, end = next(spans)
        items.append(Item(value, text[start:end].encode() if isinstance(value, dict) else b""))
    return items


def _object_spans(text: str) -> list[tuple[int, int]]:
    """Spans of the elements of the top-level `objects` list. `text` is known to be a valid
    JSON object."""
    spans: list[tuple[int, int]] = []
    seen: set[str] = set()
    index = _skip(text, 0) + 1  # past "{"
    while True:
        index = _skip(text, index)
        if text[index] == "}":
            return spans
        key, index = _SCANNER.raw_decode(text, index)
        if key in seen:
            raise DuplicateKey(f"the key {key!r} appears twice in the envelope")
        seen.add(key)
        index = _skip(text, index) + 1  # past ":"
        index = _skip(text, index)
        if key == "objects" and text[index] == "[":
            spans, index = _elements(text, index + 1)
        else:
            _, index = _SCANNER.raw_decode(text, index)
        index = _skip(text, index)
        if text[index] == ",":
            index += 1


def _elements(text: str, index: int) -> tuple[list[tuple[int, int]], int]:
    """The spans of a list's elements, from just inside its "[", and the index past its "]"."""
    spans: list[tuple[int, int]] = []
    while True:
        index = _skip(text, index)
        if text[index] == "]":
            return spans, index + 1
        _, end = _SCANNER.raw_decode(text, index)
        spans.append((index, end))
        index = _skip(text, end)
        if text[index] == ",":
            index += 1


def page(items: Sequence[bytes], *, key: str, more: bool, next_token: str | None) -> bytes:
    """A page as JSON bytes, items spliced in as stored. An empty page is `{"more": false}`
    with no list, since TAXII forbids empty lists."""
    if more and next_token:
        head = b'{"more":true,"next":"' + next_token.encode() + b'"'
    else:
        head = b'{"more":' + (b"true" if more else b"false")
    if not items:
        return head + b"}"
    return head + b',"' + key.encode() + b'":[' + b",".join(items) + b"]}"

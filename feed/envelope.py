"""TAXII envelopes as bytes, both ways, without re-serialising any object.

Incoming: the envelope is parsed once (orjson) for validation, and the byte span of every
element of its `objects` list is located so each object is stored exactly as it was sent.
Outgoing: stored JSON is spliced into the page unchanged.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from feed.errors import BadRequest

# Strings (with escapes) and the structural characters; everything else is skipped in C.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}:,]', re.DOTALL)


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
    spans = iter(_object_spans(raw))
    items = []
    for value in objects:
        if isinstance(value, dict):
            start, end = next(spans)
            items.append(Item(value, raw[start:end]))
        else:
            items.append(Item(value, b""))
    return items


def _object_spans(raw: bytes) -> list[tuple[int, int]]:
    """Byte spans of the JSON objects directly inside the last top-level `objects` list (the
    one a JSON parser keeps when the key is repeated). `raw` is known to be valid JSON."""
    depth = 0
    pending_key: bytes | None = None
    key: bytes | None = None
    in_objects = False
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _TOKENS.finditer(raw):
        first = raw[match.start()]
        if first == 0x22:  # '"'
            if depth == 1:
                pending_key = match.group()
        elif first == 0x3A:  # ':'
            if depth == 1:
                key, pending_key = pending_key, None
        elif first == 0x2C:  # ','
            if depth == 1:
                key = None
        elif first in b"{[":
            depth += 1
            if depth == 2 and first == 0x5B and key is not None:
                if orjson.loads(key) == "objects":
                    in_objects, spans = True, []
            elif depth == 3 and in_objects and first == 0x7B:
                start = match.start()
        else:  # '}' or ']'
            depth -= 1
            if in_objects and depth == 2 and first == 0x7D:
                spans.append((start, match.end()))
            elif depth == 1:
                in_objects = False
    return spans


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

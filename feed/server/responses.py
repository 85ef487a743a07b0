"""Responses: every one carries the TAXII 2.1 media type, errors included."""

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from feed.envelope import page
from feed.taxii import TAXII_MEDIA_TYPE, Cursor, format_timestamp

Item = TypeVar("Item")


class TaxiiResponse(JSONResponse):
    """JSON already rendered to bytes (pages splice stored objects). A JSONResponse, so that
    the OpenAPI document gives each response its model's schema rather than a string."""

    media_type = TAXII_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        return orjson.dumps(content)


def taxii_json(content: BaseModel | dict[str, Any], status_code: int = 200) -> TaxiiResponse:
    if isinstance(content, BaseModel):
        content = content.model_dump(mode="json", exclude_none=True)
    return TaxiiResponse(orjson.dumps(content), status_code=status_code)


def paged(
    rows: Sequence[Item],
    *,
    more: bool,
    key: str,
    render: Callable[[Item], bytes],
    date_added: Callable[[Item], int],
    cursor_key: bytes,
    scope: bytes,
) -> TaxiiResponse:
    """A page of rows in date_added order, with its `next` cursor and the
    X-TAXII-Date-Added-First/-Last headers (section 3.3.2)."""
    headers = {}
    token = None
    if rows:
        first, last = date_added(rows[0]), date_added(rows[-1])
        headers["X-TAXII-Date-Added-First"] = format_timestamp(first)
        headers["X-TAXII-Date-Added-Last"] = format_timestamp(last)
        if more:
            token = Cursor(last).encode(cursor_key, scope)
    body = page([render(row) for row in rows], key=key, more=more, next_token=token)
    return TaxiiResponse(body, headers=headers)


def documented_query(*names: str) -> dict[str, Any]:
    """OpenAPI entries for query parameters that are parsed from the raw query string (the
    bracketed match[] names and repeated-parameter checks do not fit FastAPI's model)."""
    descriptions = {
        "added_after": "Only objects added after this timestamp (RFC 3339, UTC).",
        "limit": "The most items to return; clamped to the server's maximum.",
        "next": "The `next` value of the previous page.",
        "match[id]": "Comma-separated STIX ids.",
        "match[type]": "Comma-separated STIX types.",
        "match[version]": "`last` (default), `first`, `all`, or comma-separated timestamps.",
        "match[spec_version]": "Comma-separated STIX spec versions.",
    }
    return {
        "parameters": [
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": descriptions[name],
                "schema": {"type": "string"},
            }
            for name in names
        ]
    }


def documented_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI entry of a request body that a handler reads raw (its media type checked,
    its length bounded, its JSON parsed once): `model`'s schema, as schemas/ publishes it,
    under the TAXII media type. Its definitions are written in place: a `$ref` to its own
    `$defs` would be read against the OpenAPI document, not the schema."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def in_place(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return in_place(definitions[node["$ref"].rsplit("/", 1)[1]])
            return {key: in_place(value) for key, value in node.items()}
        if isinstance(node, list):
            return [in_place(value) for value in node]
        return node

    content = {TAXII_MEDIA_TYPE: {"schema": in_place(schema)}}
    return {"requestBody": {"required": True, "content": content}}

"""Request dependencies: content negotiation, the caller, and the collection it may use.

Each permission is resolved once here, so no handler repeats a check: a handler that takes a
`ReadableCollection` can only run for a caller who may read that collection. Dependencies
and handlers that do no I/O are coroutines: FastAPI runs every plain function in a worker
thread, and the hand-over costs more than they do (0.2 to 0.5 ms on a small virtual
machine, measured in docs/performance.md).
"""

import asyncio
import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Annotated

from fastapi import Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from feed.accounts import Access, authenticate
from feed.config import Settings
from feed.errors import (
    Forbidden,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    Unauthorized,
    UnsupportedMediaType,
)
from feed.limits import MINUTE, count_request, refusal
from feed.sandbox import DEMO_KEY_IDS
from feed.store import Store
from feed.tables import Organisation
from feed.taxii import TAXII_MEDIA_TYPE, accepts_taxii, is_taxii_content_type, now_micros


async def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_cursor_key(request: Request) -> bytes:
    key: bytes = request.app.state.cursor_key
    return key


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CursorKey = Annotated[bytes, Depends(get_cursor_key)]


async def require_taxii_accept(request: Request) -> None:
    if not accepts_taxii(request.headers.get("accept")):
        raise NotAcceptable(
            f"this endpoint serves {TAXII_MEDIA_TYPE}; send it in the Accept header"
        )


async def require_nameable_path(request: Request) -> None:
    """Refuse a path holding NUL as naming nothing: no id or name we store can hold one
    (PostgreSQL's text cannot), and a lookup of one would fail in the database, not miss."""
    if "\x00" in request.scope["path"]:
        raise NotFound("there is nothing at a path holding a NUL character")


def _credentials(header: str | None) -> tuple[str, str]:
    if not header:
        raise Unauthorized("send an API key: HTTP Basic (key id, secret) or Bearer <id>.<secret>")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("the Basic credentials are not base64 of key-id:secret") from None
        key_id, separator, secret = decoded.partition(":")
    elif scheme == "bearer":
        key_id, separator, secret = value.partition(".")
    else:
        raise Unauthorized(
            f"authentication scheme {scheme!r} is not supported; use Basic or Bearer"
        )
    if not separator or not key_id or not secret:
        raise Unauthorized("the credentials must hold both a key id and a secret")
    if "\x00" in key_id:  # as in a path: no stored key id holds one
        raise Unauthorized("the API key is unknown, revoked, or its secret is wrong")
    return key_id, secret


def _caller_and_access(
    request: Request, store: Store, settings: Settings, collection_id: str | None
) -> tuple[Organisation, Access | None]:
    """Authenticate, count the request against the rate limit and, for a collection's
    endpoint, find the caller's rights on it: one session, whatever a request needs."""
    key_id, secret = _credentials(request.headers.get("authorization"))
    if key_id in DEMO_KEY_IDS and not settings.sandbox:
        raise Unauthorized("sandbox demo keys work only on a sandbox server")
    limit = settings.rate_limit_per_minute
    retry_after = None
    now = now_micros()
    counted_minute = now // MINUTE if limit and store.counts_beside_callers else None
    with store.reading() as session:
        found = authenticate(session, key_id, secret, collection_id, counted_minute=counted_minute)
        if found is not None and limit:
            with store.counting(session) as counts:
                retry_after = count_request(
                    counts, found.organisation.id, now, limit, counted=found.requests
                )
    if found is None:
        raise Unauthorized("the API key is unknown, revoked, or its secret is wrong")
    caller, access, _ = found
    request.state.organisation = caller.name
    if retry_after is not None:
        raise refusal(limit, retry_after)
    return caller, access


async def get_caller(request: Request, store: StoreDep, settings: SettingsDep) -> Organisation:
    """The caller, for endpoints outside a collection; a collection's endpoint finds it with
    its access (`Access.caller`). An endpoint takes one or the other, so that a request is
    counted once."""
    found = await run_in_threadpool(_caller_and_access, request, store, settings, None)
    return found[0]


Caller = Annotated[Organisation, Depends(get_caller)]


def get_access(
    collection_id: Annotated[str, Path(description="The collection's id")],
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
) -> Access:
    _, access = _caller_and_access(request, store, settings, collection_id)
    if access is None:
        raise NotFound(f"there is no collection {collection_id} that you may use")
    return access


async def readable(access: Annotated[Access, Depends(get_access)]) -> Access:
    if not access.can_read:
        raise Forbidden(f"you may not read collection {access.collection.id}")
    return access


async def writable(access: Annotated[Access, Depends(get_access)]) -> Access:
    if not access.can_write:
        raise Forbidden(f"you may not write to collection {access.collection.id}")
    return access


async def readable_and_writable(access: Annotated[Access, Depends(get_access)]) -> Access:
    if not (access.can_read and access.can_write):
        raise Forbidden(f"deleting from collection {access.collection.id} needs read and write")
    return access


ReadableCollection = Annotated[Access, Depends(readable)]
WritableCollection = Annotated[Access, Depends(writable)]
ReadWriteCollection = Annotated[Access, Depends(readable_and_writable)]


async def read_envelope_body(request: Request, settings: SettingsDep) -> bytes:
    """The request body, refused with 415 unless it is TAXII JSON, with 413 as soon as it is
    longer than max_content_length (never when it is not), and with 408 when it has not all
    arrived in time."""
    content_type = request.headers.get("content-type")
    if not is_taxii_content_type(content_type):
        raise UnsupportedMediaType(
            f"Content-Type {content_type!r} is not supported; send {TAXII_MEDIA_TYPE}"
        )
    limit = settings.max_content_length
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; max_content_length is {limit}")
    chunks = []
    received = 0
    try:
        async with asyncio.timeout(settings.body_timeout_seconds):
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise PayloadTooLarge(f"the body exceeds max_content_length of {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout(
            f"the body was not received within {settings.body_timeout_seconds:g} s "
            f"({received} bytes arrived)"
        ) from None
    return b"".join(chunks)


EnvelopeBody = Annotated[bytes, Depends(read_envelope_body)]


async def query_params(request: Request) -> Mapping[str, Sequence[str]]:
    params: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        params.setdefault(name, []).append(value)
    return params


QueryParams = Annotated[Mapping[str, Sequence[str]], Depends(query_params)]

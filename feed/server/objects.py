"""Objects, object, versions and manifest: TAXII 2.1 sections 5.3 to 5.8.

Pages are keyset reads in date_added order that splice stored JSON into the envelope
unchanged. Adding objects is synchronous: the status is `complete` when the POST returns,
and every object it reports as a success is already visible to pollers.
"""

import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path

from feed import audit
from feed.accounts import Access
from feed.audit import Action
from feed.config import Settings
from feed.envelope import Item, parse_envelope
from feed.errors import InvalidObject, NotFound, PayloadTooLarge, counted
from feed.pages import (
    DATE_ADDED,
    MANIFEST_COLUMNS,
    OBJECT_COLUMNS,
    OBJECT_ID,
    SPEC_VERSION,
    VERSION,
    VERSION_COLUMNS,
    PageRow,
    object_exists,
    read_page,
    stored_json,
)
from feed.server.deps import (
    CursorKey,
    EnvelopeBody,
    QueryParams,
    ReadableCollection,
    ReadWriteCollection,
    SettingsDep,
    StoreDep,
    WritableCollection,
)
from feed.server.ledger import audit_additions, delivery_due, note_delivery
from feed.server.responses import (
    TaxiiResponse,
    documented_body,
    documented_query,
    paged,
    taxii_json,
)
from feed.server.status import status_resource
from feed.stix import check_object
from feed.store import Store, save_status
from feed.tables import StatusRecord
from feed.taxii import (
    STIX_MEDIA_TYPE,
    Filters,
    Page,
    PostedEnvelope,
    Status,
    cursor_scope,
    format_timestamp,
    now_micros,
    parse_filters,
    parse_page,
)
from feed.versions import Candidate, add_objects, delete_versions

router = APIRouter(prefix="/api/collections/{collection_id}")

ObjectId = Annotated[str, Path(description="A STIX id (type--UUID)")]
_ALL_FILTERS = ("id", "type", "version", "spec_version", "added_after")
_ONE_OBJECT_FILTERS = ("version", "spec_version", "added_after")
_PAGE = ("limit", "next")
_LIST_QUERY = documented_query(*_PAGE, *(f"match[{f}]" for f in _ALL_FILTERS[:4]), "added_after")


def _filters_and_page(
    params: QueryParams,
    allowed: tuple[str, ...],
    *,
    endpoint: str,
    access: Access,
    settings: Settings,
    cursor_key: bytes,
    object_id: str | None = None,
) -> tuple[Filters, Page, bytes]:
    filters = parse_filters(params, allowed)
    where = f"{endpoint}:{object_id or ''}"
    scope = cursor_scope(where, access.collection.id, access.caller.id, filters)
    page = parse_page(
        params,
        key=cursor_key,
        scope=scope,
        default=settings.page_limit_default,
        maximum=settings.page_limit_max,
    )
    return filters, page, scope


def _date_added(row: PageRow) -> int:
    date_added: int = row[DATE_ADDED]
    return date_added


@router.get(
    "/objects/",
    summary="Get objects (5.3)",
    openapi_extra=documented_query(
        *_PAGE, *(f"match[{f}]" for f in _ALL_FILTERS[:4]), "added_after"
    ),
)
def get_objects(
    access: ReadableCollection,
    params: QueryParams,
    store: StoreDep,
    settings: SettingsDep,
    cursor_key: CursorKey,
) -> TaxiiResponse:
    collection_id = access.collection.id
    filters, page, scope = _filters_and_page(
        params,
        _ALL_FILTERS,
        endpoint="objects",
        access=access,
        settings=settings,
        cursor_key=cursor_key,
    )
    with store.reading() as session:
        rows, more = read_page(session, collection_id, filters, page, columns=OBJECT_COLUMNS)
    if delivery_due(access, rows):
        note_delivery(store, access, rows)
    return paged(
        rows,
        more=more,
        key="objects",
        render=stored_json,
        date_added=_date_added,
        cursor_key=cursor_key,
        scope=scope,
    )


def _failure(index: int, item: Item, reason: str) -> dict[str, str]:
    value = item.value if isinstance(item.value, dict) else {}
    object_id = value.get("id")
    version = value.get("modified", value.get("created"))
    return {
        "id": object_id if isinstance(object_id, str) else f"objects[{index}]",
        "version": version if isinstance(version, str) else "",
        "message": f"objects[{index}]: {reason}",
    }


def _check_report(store: Store, feed_id: str, value: dict[str, Any], identity: str) -> None:
    """A reports collection takes sightings of the feed's indicators, each sighted by its
    poster, and the poster's own identity; nothing else."""
    if value["id"] == identity:
        return
    if value["type"] != "sighting":
        raise InvalidObject(f"a reports collection takes sightings, not {value['type']}")
    if value.get("where_sighted_refs") != [identity]:
        raise InvalidObject(f"where_sighted_refs must be [{identity}]: report your own sightings")
    sighted = value.get("sighting_of_ref")
    with store.reading() as session:
        known = isinstance(sighted, str) and object_exists(session, feed_id, sighted)
    if not known:
        raise InvalidObject(f"sighting_of_ref {sighted} is not an object of the feed")


@router.post(
    "/objects/",
    status_code=202,
    responses={202: {"model": Status}},
    summary="Add objects (5.4)",
    openapi_extra=documented_body(PostedEnvelope),
)
def post_objects(
    access: WritableCollection,
    raw: EnvelopeBody,
    store: StoreDep,
    settings: SettingsDep,
) -> TaxiiResponse:
    request_timestamp = now_micros()
    items = parse_envelope(raw)
    if len(items) > settings.max_objects_per_request:
        raise PayloadTooLarge(
            f"the envelope holds {len(items)} objects; at most "
            f"{settings.max_objects_per_request} per request"
        )
    failures: list[dict[str, str]] = []
    candidates: list[Candidate] = []
    feed_id, identity = access.collection.feed_id, access.caller.identity_id
    for index, item in enumerate(items):
        try:
            checked = check_object(item.value, identity)
            if feed_id is not None:
                _check_report(store, feed_id, item.value, identity)
        except InvalidObject as error:
            failures.append(_failure(index, item, error.description))
            continue
        candidates.append(Candidate.of(item.value, item.raw, checked))
    successes: list[dict[str, str]] = []
    revoked = {c.object_id for c in candidates if c.value.get("revoked") is True}
    with store.writing() as session:
        for outcome in add_objects(session, access.collection.id, candidates):
            detail = {"id": outcome.object_id, "version": outcome.version}
            if outcome.failure is None:
                successes.append(detail)
            else:
                failures.append({**detail, "message": outcome.failure})
        audit_additions(session, access, [s["id"] for s in successes], revoked)
        record = StatusRecord(
            id=str(uuid.uuid4()),
            collection_id=access.collection.id,
            organisation_id=access.caller.id,
            request_timestamp=request_timestamp,
            total_count=len(items),
            success_count=len(successes),
            failure_count=len(failures),
            pending_count=0,
            details=orjson.dumps({"successes": successes, "failures": failures}).decode(),
        )
        expiry = request_timestamp - settings.status_ttl_micros
        save_status(session, record, expired_before=expiry)
        resource = status_resource(record)
    store.ensure_statistics()
    return taxii_json(resource, status_code=202)


@router.get(
    "/objects/{object_id}/",
    summary="Get an object (5.5)",
    openapi_extra=documented_query(*_PAGE, "match[version]", "match[spec_version]", "added_after"),
)
def get_object(
    object_id: ObjectId,
    access: ReadableCollection,
    params: QueryParams,
    store: StoreDep,
    settings: SettingsDep,
    cursor_key: CursorKey,
) -> TaxiiResponse:
    collection_id = access.collection.id
    filters, page, scope = _filters_and_page(
        params,
        _ONE_OBJECT_FILTERS,
        endpoint="object",
        access=access,
        settings=settings,
        cursor_key=cursor_key,
        object_id=object_id,
    )
    with store.reading() as session:
        rows, more = read_page(
            session, collection_id, filters, page, object_id=object_id, columns=OBJECT_COLUMNS
        )
        if not rows and page.after is None and not object_exists(session, collection_id, object_id):
            raise NotFound(f"there is no object {object_id} in collection {collection_id}")
    return paged(
        rows,
        more=more,
        key="objects",
        render=stored_json,
        date_added=_date_added,
        cursor_key=cursor_key,
        scope=scope,
    )


@router.delete(
    "/objects/{object_id}/",
    summary="Delete an object (5.6)",
    openapi_extra=documented_query("match[version]", "match[spec_version]"),
)
def delete_object(
    object_id: ObjectId,
    access: ReadWriteCollection,
    params: QueryParams,
    store: StoreDep,
) -> TaxiiResponse:
    filters = parse_filters(params, ("version", "spec_version"))
    if filters.version_selector == frozenset({"last"}) and not filters.versions:
        # Without match[version], delete removes every version (section 5.6).
        filters = Filters(spec_versions=filters.spec_versions, version_selector=frozenset({"all"}))
    with store.writing() as session:
        deleted = delete_versions(session, access.collection.id, object_id, filters)
        if deleted:
            deletion = audit.event(
                access.caller.id, Action.DELETE, access.collection.id, [object_id],
                at=now_micros(), note=counted(deleted, "version"),
            )  # fmt: skip
            audit.record(session, deletion)
    if not deleted:
        raise NotFound(
            f"there is no matching object {object_id} in collection {access.collection.id}"
        )
    return TaxiiResponse(b"")


@router.get(
    "/objects/{object_id}/versions/",
    summary="Get object versions (5.7)",
    openapi_extra=documented_query(*_PAGE, "match[spec_version]", "added_after"),
)
def get_versions(
    object_id: ObjectId,
    access: ReadableCollection,
    params: QueryParams,
    store: StoreDep,
    settings: SettingsDep,
    cursor_key: CursorKey,
) -> TaxiiResponse:
    collection_id = access.collection.id
    filters, page, scope = _filters_and_page(
        {**params, "match[version]": ["all"]},
        ("spec_version", "added_after", "version"),
        endpoint="versions",
        access=access,
        settings=settings,
        cursor_key=cursor_key,
        object_id=object_id,
    )
    with store.reading() as session:
        rows, more = read_page(
            session, collection_id, filters, page, object_id=object_id, columns=VERSION_COLUMNS
        )
        if not rows and page.after is None and not object_exists(session, collection_id, object_id):
            raise NotFound(f"there is no object {object_id} in collection {collection_id}")
    return paged(
        rows,
        more=more,
        key="versions",
        render=lambda row: orjson.dumps(row[VERSION]),
        date_added=_date_added,
        cursor_key=cursor_key,
        scope=scope,
    )


def _manifest_record(row: PageRow) -> bytes:
    return orjson.dumps(
        {
            "id": row[OBJECT_ID],
            "date_added": format_timestamp(row[DATE_ADDED]),
            "version": row[VERSION],
            "media_type": STIX_MEDIA_TYPE.replace("2.1", row[SPEC_VERSION]),
        }
    )


@router.get(
    "/manifest/",
    summary="Get object manifests (5.8)",
    openapi_extra=documented_query(
        *_PAGE, *(f"match[{f}]" for f in _ALL_FILTERS[:4]), "added_after"
    ),
)
def get_manifest(
    access: ReadableCollection,
    params: QueryParams,
    store: StoreDep,
    settings: SettingsDep,
    cursor_key: CursorKey,
) -> TaxiiResponse:
    collection_id = access.collection.id
    filters, page, scope = _filters_and_page(
        params,
        _ALL_FILTERS,
        endpoint="manifest",
        access=access,
        settings=settings,
        cursor_key=cursor_key,
    )
    with store.reading() as session:
        rows, more = read_page(session, collection_id, filters, page, columns=MANIFEST_COLUMNS)
    return paged(
        rows,
        more=more,
        key="objects",
        render=_manifest_record,
        date_added=_date_added,
        cursor_key=cursor_key,
        scope=scope,
    )

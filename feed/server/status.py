"""Status resources: TAXII 2.1 section 4.3. A status is visible only to the organisation
whose request created it, and for at least status_ttl_hours (24 h or more)."""

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path

from feed.errors import NotFound
from feed.server.deps import Caller, SettingsDep, StoreDep
from feed.server.responses import TaxiiResponse, taxii_json
from feed.store import load_status
from feed.tables import StatusRecord
from feed.taxii import Status, format_timestamp, now_micros

router = APIRouter(prefix="/api/status")


def status_resource(record: StatusRecord) -> dict[str, Any]:
    """The status as a TAXII document (the fields of `Status`, in its order), its details
    passed on as stored: a model per detail, built and dumped again, cost the response to a
    POST of 1,000 objects 1.6 ms."""
    details = orjson.loads(record.details)
    resource: dict[str, Any] = {
        "id": record.id,
        "status": "complete" if record.pending_count == 0 else "pending",
        "request_timestamp": format_timestamp(record.request_timestamp),
        "total_count": record.total_count,
        "success_count": record.success_count,
    }
    if details["successes"]:
        resource["successes"] = details["successes"]
    resource["failure_count"] = record.failure_count
    if details["failures"]:
        resource["failures"] = details["failures"]
    resource["pending_count"] = record.pending_count
    return resource


StatusId = Annotated[str, Path(description="The id from an Add Objects response")]


# taxii2-client polls `status/{id}` without the trailing slash, so both forms are served.
@router.get("/{status_id}", include_in_schema=False)
@router.get("/{status_id}/", responses={200: {"model": Status}}, summary="Get status (4.3)")
def get_status(
    status_id: StatusId, caller: Caller, store: StoreDep, settings: SettingsDep
) -> TaxiiResponse:
    expiry = now_micros() - settings.status_ttl_micros
    with store.reading() as session:
        record = load_status(session, status_id, caller.id, expired_before=expiry)
        if record is None:
            raise NotFound(f"there is no status {status_id} of yours (statuses expire)")
        return taxii_json(status_resource(record))

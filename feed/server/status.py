"""Status resources: TAXII 2.1 section 4.3. A status is visible only to the organisation
whose request created it, and for at least status_ttl_hours (24 h or more)."""

from typing import Annotated

import orjson
from fastapi import APIRouter, Path

from feed.errors import NotFound
from feed.server.deps import Caller, SettingsDep, StoreDep
from feed.server.responses import TaxiiResponse, taxii_json
from feed.store import load_status
from feed.tables import StatusRecord
from feed.taxii import Status, StatusDetail, format_timestamp, now_micros

router = APIRouter(prefix="/api/status")


def status_resource(record: StatusRecord) -> Status:
    details = orjson.loads(record.details)
    return Status(
        id=record.id,
        status="complete" if record.pending_count == 0 else "pending",
        request_timestamp=format_timestamp(record.request_timestamp),
        total_count=record.total_count,
        success_count=record.success_count,
        successes=[StatusDetail(**d) for d in details["successes"]] or None,
        failure_count=record.failure_count,
        failures=[StatusDetail(**d) for d in details["failures"]] or None,
        pending_count=record.pending_count,
    )


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

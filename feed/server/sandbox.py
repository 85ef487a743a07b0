"""The sandbox's own endpoint (only on a sandbox server): reset to the seed state."""

from fastapi import APIRouter, Request

from feed.sandbox import Sandbox
from feed.server.deps import Caller
from feed.server.responses import TaxiiResponse, taxii_json

router = APIRouter()


@router.post(
    "/sandbox/reset/",
    summary="Reset the sandbox to its seed state (sandbox only)",
    description="Deletes every object, acknowledgement and report, and publishes the seed "
    "indicators again; the demo credentials stay the same.",
)
def reset(request: Request, _caller: Caller) -> TaxiiResponse:
    sandbox: Sandbox = request.app.state.sandbox
    sandbox.reset()
    return taxii_json({"reset": True, "feed": sandbox.feed_id, "indicators": sandbox.size})

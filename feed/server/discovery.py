"""Server discovery and the API root: TAXII 2.1 sections 4.1 and 4.2."""

from fastapi import APIRouter, Request

from feed.server.deps import Caller, SettingsDep
from feed.server.responses import TaxiiResponse, taxii_json
from feed.taxii import TAXII_MEDIA_TYPE, ApiRoot, Discovery

API_ROOT = "/api/"
router = APIRouter()


@router.get("/taxii2/", responses={200: {"model": Discovery}}, summary="Server discovery (4.1)")
async def discovery(request: Request, settings: SettingsDep, _caller: Caller) -> TaxiiResponse:
    root = str(request.base_url).rstrip("/") + API_ROOT
    return taxii_json(
        Discovery(
            title=settings.title,
            description="Flagged cryptocurrency addresses, published by watchdogs.",
            contact=settings.contact,
            default=root,
            api_roots=[root],
        )
    )


@router.get(API_ROOT, responses={200: {"model": ApiRoot}}, summary="API root information (4.2)")
async def api_root(settings: SettingsDep, _caller: Caller) -> TaxiiResponse:
    return taxii_json(
        ApiRoot(
            title=settings.title,
            description="The feeds and their reports collections.",
            versions=[TAXII_MEDIA_TYPE],
            max_content_length=settings.max_content_length,
        )
    )


@router.get(
    API_ROOT + "identity/",
    summary="Your organisation's STIX identity (extension)",
    description="The identity your objects must name as `created_by_ref`: indicators a "
    "watchdog publishes, sightings an exchange reports.",
)
async def identity(caller: Caller) -> TaxiiResponse:
    return TaxiiResponse(caller.identity.encode())

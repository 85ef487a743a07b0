"""Collections: TAXII 2.1 sections 5.1 and 5.2."""

from typing import Annotated

from fastapi import APIRouter, Depends

from feed.accounts import Access, accessible_collections
from feed.server.deps import Caller, StoreDep, get_access
from feed.server.responses import TaxiiResponse, taxii_json
from feed.taxii import CollectionResource, Collections

router = APIRouter(prefix="/api/collections")


def _resource(access: Access) -> CollectionResource:
    collection = access.collection
    return CollectionResource(
        id=collection.id,
        title=collection.title,
        description=collection.description,
        alias=collection.alias,
        can_read=access.can_read,
        can_write=access.can_write,
    )


@router.get("/", responses={200: {"model": Collections}}, summary="Get collections (5.1)")
def get_collections(caller: Caller, store: StoreDep) -> TaxiiResponse:
    with store.reading() as session:
        found = accessible_collections(session, caller)
    return taxii_json(Collections(collections=[_resource(a) for a in found] or None))


@router.get(
    "/{collection_id}/",
    responses={200: {"model": CollectionResource}},
    summary="Get a collection (5.2)",
)
async def get_collection(access: Annotated[Access, Depends(get_access)]) -> TaxiiResponse:
    return taxii_json(_resource(access))

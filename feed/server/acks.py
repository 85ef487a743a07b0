"""Acknowledgements (extension): exchanges confirm what they durably applied; a feed's owner
sees, per subscriber, how far it was served and has acknowledged, and per object who received
and acknowledged which version. Everyone else sees only its own state."""

from fastapi import APIRouter
from pydantic import ValidationError

from feed import audit
from feed.audit import Action
from feed.deliveries import (
    AcknowledgementIn,
    AcknowledgementState,
    ObjectAcknowledgements,
    SubscriberState,
    acknowledge,
    object_receipts,
    states,
)
from feed.errors import BadRequest, Forbidden, describe_problems
from feed.server.deps import EnvelopeBody, ReadableCollection, StoreDep
from feed.server.responses import TaxiiResponse, documented_body, taxii_json
from feed.tables import Role
from feed.taxii import now_micros

router = APIRouter(prefix="/api/collections/{collection_id}/acknowledgements")


@router.post(
    "/",
    responses={200: {"model": SubscriberState}},
    openapi_extra=documented_body(AcknowledgementIn),
    summary="Acknowledge what you applied (extension)",
    description="Body (TAXII media type): `through`, a date_added up to which every object of "
    "the collection is durably applied, and optionally per-object `outcomes` (applied, or "
    "rejected with a reason). Acknowledgements only move forward; acknowledging past what you "
    "were served is refused. Answers with your state. Schema: "
    "schemas/acknowledgement-request.json.",
)
def post_acknowledgement(
    access: ReadableCollection, raw: EnvelopeBody, store: StoreDep
) -> TaxiiResponse:
    caller = access.caller
    if caller.id == access.collection.owner_id or caller.role == Role.ADMIN:
        raise Forbidden("only subscribers acknowledge a collection, not its owner or an operator")
    try:
        request = AcknowledgementIn.model_validate_json(raw)
    except ValidationError as error:
        problems = describe_problems(error.errors(), "body")
        raise BadRequest(f"not an acknowledgement: {problems}") from None
    with store.writing() as session:
        now = now_micros()
        state = acknowledge(session, access.collection.id, caller, request, now)
        told = [outcome.id for outcome in request.outcomes]
        note = f"through {request.through}"
        acknowledged = audit.event(
            caller.id, Action.ACKNOWLEDGE, access.collection.id, told, at=now, note=note
        )
        audit.record(session, acknowledged)
    return taxii_json(state)


@router.get(
    "/",
    responses={200: {"model": AcknowledgementState}},
    summary="Subscribers' delivery and acknowledgement state (extension)",
    description="For the collection's owner: every subscriber's last poll, served-through, "
    "acknowledged-through, pending count and the age of its oldest unacknowledged object. "
    "For a subscriber: its own.",
)
def get_acknowledgements(access: ReadableCollection, store: StoreDep) -> TaxiiResponse:
    with store.reading() as session:
        return taxii_json(states(session, access.collection, access.caller, now_micros()))


@router.get(
    "/{object_id}/",
    responses={200: {"model": ObjectAcknowledgements}},
    summary="Who received and acknowledged one object (extension)",
    description="404 when the collection holds no version of the object.",
)
def get_object_acknowledgements(
    object_id: str, access: ReadableCollection, store: StoreDep
) -> TaxiiResponse:
    with store.reading() as session:
        return taxii_json(object_receipts(session, access.collection, object_id, access.caller))

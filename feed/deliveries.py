"""Acknowledgements: how far each organisation has been served a collection, how far it says it
has durably applied it, and what it said of single objects.

State is a pair of watermarks per organisation and collection (served through, acknowledged
through: `date_added` values), plus outcomes only for the objects an organisation reported on.
Acknowledgements only move forward: an older watermark is accepted and changes nothing, so a
retried acknowledgement is harmless. Nobody may acknowledge past what it was served."""

from enum import StrEnum
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func
from sqlmodel import Session, col, select

from feed.errors import BadRequest, FeedError, NotFound
from feed.tables import (
    OBJECTS,
    Collection,
    Delivery,
    Grant,
    ObjectOutcome,
    ObjectVersion,
    Organisation,
    Role,
    in_collection,
)
from feed.taxii import (
    MAX_REASON,
    format_timestamp,
    is_object_id,
    normalise_version,
    parse_timestamp,
)


class OutcomeKind(StrEnum):
    APPLIED = "applied"
    REJECTED = "rejected"


class ObjectOutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(max_length=300)
    version: str = Field(max_length=40, description="The object's version (its `modified`).")
    outcome: OutcomeKind
    reason: str | None = Field(None, max_length=MAX_REASON, description="Why it was rejected.")

    @field_validator("id")
    @classmethod
    def _a_stix_identifier(cls, value: str) -> str:
        if not is_object_id(value):
            raise ValueError("not a STIX identifier (type--UUID)")
        return value

    @field_validator("reason")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:  # PostgreSQL's text cannot hold one
            raise ValueError("holds a NUL character")
        return value


class AcknowledgementIn(BaseModel):
    """An acknowledgement: every object with `date_added` up to `through` is durably applied."""

    model_config = ConfigDict(extra="forbid")

    through: str = Field(description="A date_added (X-TAXII-Date-Added-Last of a page).")
    outcomes: list[ObjectOutcomeIn] = Field(default_factory=list, max_length=10_000)


_SUBSCRIBED = "Whether it may read the feed now: false once its grant was withdrawn."


class SubscriberState(BaseModel):
    organisation: str
    organisation_id: str
    identity: str
    subscribed: bool = Field(description=_SUBSCRIBED)
    last_poll: str | None = Field(None, description="Absent: it never polled.")
    served_through: str | None = None
    acknowledged_through: str | None = Field(None, description="Absent: nothing yet.")
    acknowledged_at: str | None = None
    pending: int = Field(description="Object versions added after acknowledged_through.")
    oldest_pending_age_seconds: float | None = Field(None, description="Absent: none pending.")
    rejected: int = Field(description="Objects it reported as rejected.")


class AcknowledgementState(BaseModel):
    collection: str
    subscribers: list[SubscriberState]


class VersionReceipt(BaseModel):
    version: str
    date_added: str
    received: bool
    acknowledged: bool
    outcome: OutcomeKind | None = None
    reason: str | None = None


class ObjectReceipts(BaseModel):
    organisation: str
    organisation_id: str
    subscribed: bool = Field(description=_SUBSCRIBED)
    versions: list[VersionReceipt]


class ObjectAcknowledgements(BaseModel):
    collection: str
    object: str
    subscribers: list[ObjectReceipts]


def _stamp(micros: int | None) -> str | None:
    return None if not micros else format_timestamp(micros)


def acknowledge(
    session: Session,
    collection_id: str,
    organisation: Organisation,
    request: AcknowledgementIn,
    now: int,
) -> SubscriberState:
    try:
        through = parse_timestamp(request.through)
    except FeedError as error:
        raise BadRequest(f"through: {error.description}") from None
    delivery = session.get(Delivery, (collection_id, organisation.id), with_for_update=True)
    served = 0 if delivery is None else delivery.served_through
    if delivery is None or through > served:
        raise BadRequest(
            f"through {format_timestamp(through)} is past what you were served "
            f"({_stamp(served) or 'nothing yet'}); acknowledge only what you received"
        )
    _check_outcomes(session, collection_id, request.outcomes, served)
    if through > delivery.acknowledged_through:
        delivery.acknowledged_through = through
        delivery.acknowledged_at = now
        session.add(delivery)
    for given in request.outcomes:
        version = normalise_version(given.version, field="version")
        outcome = session.get(ObjectOutcome, (collection_id, organisation.id, given.id, version))
        outcome = outcome or ObjectOutcome(
            collection_id=collection_id,
            organisation_id=organisation.id,
            object_id=given.id,
            version=version,
            outcome=given.outcome,
            recorded_at=now,
        )
        outcome.outcome, outcome.reason, outcome.recorded_at = given.outcome, given.reason, now
        session.add(outcome)
    session.flush()
    # Only a reader of the collection may acknowledge it.
    return _state(session, collection_id, Subscriber(organisation, True), delivery, now)


def _check_outcomes(
    session: Session, collection_id: str, outcomes: list[ObjectOutcomeIn], served: int
) -> None:
    for index, given in enumerate(outcomes):
        try:
            version = normalise_version(given.version, field="version")
        except FeedError as error:
            raise BadRequest(f"outcomes[{index}]: {error.description}") from None
        date_added = session.exec(
            select(col(ObjectVersion.date_added)).where(
                in_collection(OBJECTS, collection_id),
                col(ObjectVersion.object_id) == given.id,
                col(ObjectVersion.version) == version,
            )
        ).first()
        if date_added is None or date_added > served:
            raise BadRequest(
                f"outcomes[{index}]: {given.id} version {given.version} was not served to you"
            )


class Subscriber(NamedTuple):
    organisation: Organisation
    subscribed: bool  # granted the feed now


def _state(
    session: Session,
    collection_id: str,
    subscriber: Subscriber,
    delivery: Delivery | None,
    now: int,
) -> SubscriberState:
    organisation = subscriber.organisation
    through = 0 if delivery is None else delivery.acknowledged_through
    pending, oldest = session.exec(
        select(func.count(), func.min(col(ObjectVersion.date_added))).where(
            col(ObjectVersion.collection_id) == collection_id,
            col(ObjectVersion.date_added) > through,
        )
    ).one()
    rejected = session.exec(
        select(func.count())
        .select_from(ObjectOutcome)
        .where(
            col(ObjectOutcome.collection_id) == collection_id,
            col(ObjectOutcome.organisation_id) == organisation.id,
            col(ObjectOutcome.outcome) == OutcomeKind.REJECTED,
        )
    ).one()
    return SubscriberState(
        organisation=organisation.name,
        organisation_id=organisation.id,
        identity=organisation.identity_id,
        subscribed=subscriber.subscribed,
        last_poll=_stamp(None if delivery is None else delivery.last_poll),
        served_through=_stamp(None if delivery is None else delivery.served_through),
        acknowledged_through=_stamp(through),
        acknowledged_at=_stamp(None if delivery is None else delivery.acknowledged_at),
        pending=pending,
        oldest_pending_age_seconds=None if oldest is None else (now - oldest) / 1_000_000,
        rejected=rejected,
    )


def subscribers(session: Session, collection: Collection, viewer: Organisation) -> list[Subscriber]:
    """Who the viewer may see the state of: for the owner (and an admin), every exchange that
    may read the collection or once was served it, so that a withdrawn subscriber's receipts
    stay in the record; for anyone else, only itself."""
    readers = select(Grant.organisation_id).where(
        col(Grant.collection_id) == collection.id, col(Grant.can_read).is_(True)
    )
    if viewer.role != Role.ADMIN and viewer.id != collection.owner_id:
        return [Subscriber(viewer, subscribed=True)]  # it reads the collection: it may
    served = select(Delivery.organisation_id).where(col(Delivery.collection_id) == collection.id)
    granted = set(session.exec(readers).all())
    known = select(Organisation).where(
        col(Organisation.id).in_(readers.union(served)),
        col(Organisation.role) == Role.EXCHANGE,
        col(Organisation.id) != collection.owner_id,
    )
    found = session.exec(known.order_by(col(Organisation.name)))
    return [Subscriber(organisation, organisation.id in granted) for organisation in found]


def states(
    session: Session, collection: Collection, viewer: Organisation, now: int
) -> AcknowledgementState:
    return AcknowledgementState(
        collection=collection.id,
        subscribers=[
            _state(
                session,
                collection.id,
                each,
                session.get(Delivery, (collection.id, each.organisation.id)),
                now,
            )
            for each in subscribers(session, collection, viewer)
        ],
    )


def object_receipts(
    session: Session, collection: Collection, object_id: str, viewer: Organisation
) -> ObjectAcknowledgements:
    """Per subscriber, which versions of one object it received and acknowledged, and what it
    said of them."""
    versions = session.exec(
        select(col(ObjectVersion.version), col(ObjectVersion.date_added))
        .where(
            in_collection(OBJECTS, collection.id),
            col(ObjectVersion.object_id) == object_id,
        )
        .order_by(col(ObjectVersion.version))
    ).all()
    if not versions:
        raise NotFound(f"there is no object {object_id} in collection {collection.id}")
    receipts = []
    for organisation, subscribed in subscribers(session, collection, viewer):
        delivery = session.get(Delivery, (collection.id, organisation.id)) or Delivery(
            collection_id=collection.id, organisation_id=organisation.id
        )
        told = {
            o.version: o
            for o in session.exec(
                select(ObjectOutcome).where(
                    col(ObjectOutcome.collection_id) == collection.id,
                    col(ObjectOutcome.organisation_id) == organisation.id,
                    col(ObjectOutcome.object_id) == object_id,
                )
            )
        }
        receipts.append(
            ObjectReceipts(
                organisation=organisation.name,
                organisation_id=organisation.id,
                subscribed=subscribed,
                versions=[
                    VersionReceipt(
                        version=version,
                        date_added=format_timestamp(date_added),
                        received=date_added <= delivery.served_through,
                        acknowledged=date_added <= delivery.acknowledged_through,
                        outcome=OutcomeKind(told[version].outcome) if version in told else None,
                        reason=told[version].reason if version in told else None,
                    )
                    for version, date_added in versions
                ],
            )
        )
    return ObjectAcknowledgements(collection=collection.id, object=object_id, subscribers=receipts)

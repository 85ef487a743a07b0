"""Organisations, API keys, feeds and grants: who a caller is and what it may touch.

An API key is a key id (public, used as the Basic user name) and a secret of 256 random bits
shown once. Only SHA-256 of the secret is stored: with that much entropy a slow password hash
adds nothing, and authentication stays cheap on every request. The bearer form of a key is
`<key id>.<secret>`.
"""

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import and_, bindparam, or_
from sqlmodel import Session, col, select

from feed import audit
from feed.audit import Action
from feed.errors import BadRequest, NotFound, with_article
from feed.limits import counting_too
from feed.served import Served
from feed.stix import definitions, organisation_identity
from feed.tables import ApiKey, Collection, CollectionKind, Delivery, Grant, Organisation, Role
from feed.taxii import now_micros, reports_alias
from feed.versions import Candidate, add_objects


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    secret: str

    @property
    def bearer(self) -> str:
        return f"{self.key_id}.{self.secret}"


@dataclass(frozen=True)
class Access:
    """What an organisation may do with one collection."""

    caller: Organisation
    collection: Collection
    can_read: bool
    can_write: bool
    # How far the caller had been served the collection when the request was authenticated
    # (None: never), read in the same statement, so that a poll finds out without another.
    served: Served | None = None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def find_organisation(session: Session, name_or_id: str) -> Organisation:
    query = select(Organisation).where(
        or_(col(Organisation.name) == name_or_id, col(Organisation.id) == name_or_id)
    )
    organisation = session.exec(query).one_or_none()
    if organisation is None:
        raise NotFound(f"no organisation named {name_or_id!r}")
    return organisation


def _check_name(what: str, value: str, column: Any, *, room: int = 0) -> None:
    """Refuse a name that is blank, holds what is not printable (it is shown in logs, tables
    and identities), or is longer than its column leaves, less `room` for what is added to it:
    PostgreSQL would refuse it as it is written, SQLite keep it whole."""
    limit = column.type.length - room
    if not value.strip() or not value.isprintable():
        raise BadRequest(f"{what} {value!r} must be printable text, not blank")
    if len(value) > limit:
        raise BadRequest(f"{what} is {len(value)} characters long; at most {limit}")


def create_organisation(
    session: Session, name: str, role: Role, *, organisation_id: str | None = None
) -> Organisation:
    """A new organisation and its STIX identity; its id is random unless given (the sandbox
    gives fixed ones, so that its data is the same on every start)."""
    column = Organisation.__table__.c.name  # type: ignore[attr-defined]
    _check_name("an organisation name", name, column)
    if session.exec(select(Organisation).where(col(Organisation.name) == name)).first():
        raise BadRequest(f"an organisation named {name!r} already exists")
    organisation_id = organisation_id or str(uuid.uuid4())
    now = now_micros()
    created = datetime.fromtimestamp(now // 1_000_000, UTC)
    organisation = Organisation(
        id=organisation_id,
        name=name,
        role=role,
        identity=organisation_identity(organisation_id, name, created),
        created_at=now,
    )
    session.add(organisation)
    session.flush()
    return organisation


def create_key(
    session: Session, organisation: Organisation, *, fixed: IssuedKey | None = None
) -> IssuedKey:
    """A new random key; or `fixed`, a published key that only the sandbox uses."""
    issued = fixed or IssuedKey(key_id="k" + secrets.token_hex(8), secret=secrets.token_urlsafe(32))
    now = now_micros()
    session.add(
        ApiKey(
            id=issued.key_id,
            organisation_id=organisation.id,
            secret_hash=_hash(issued.secret),
            created_at=now,
        )
    )
    audit.record(
        session, audit.event(organisation.id, Action.KEY_ISSUED, None, at=now, note=issued.key_id)
    )
    return issued


def revoke_key(session: Session, key_id: str) -> None:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key {key_id!r}")
    if key.revoked_at is None:
        key.revoked_at = now_micros()
        session.add(key)
        revoked = audit.event(
            key.organisation_id, Action.KEY_REVOKED, None, at=key.revoked_at, note=key_id
        )
        audit.record(session, revoked)


# Built once with bound parameters: building them anew cost each request more than running them.
_CALLER = (
    select(ApiKey.secret_hash, Organisation)
    .join(Organisation, col(Organisation.id) == ApiKey.organisation_id)
    .where(col(ApiKey.id) == bindparam("key_id"), col(ApiKey.revoked_at).is_(None))
)
_CALLER_AND_RIGHTS = (
    _CALLER.add_columns(Collection, col(Grant.can_read), col(Grant.can_write))
    .add_columns(col(Delivery.served_through), col(Delivery.last_poll))
    .outerjoin(Collection, col(Collection.id) == bindparam("collection_id"))
    .outerjoin(
        Grant,
        and_(
            col(Grant.collection_id) == Collection.id,
            col(Grant.organisation_id) == Organisation.id,
        ),
    )
    .outerjoin(
        Delivery,
        and_(
            col(Delivery.collection_id) == Collection.id,
            col(Delivery.organisation_id) == Organisation.id,
        ),
    )
)


_COUNTING_TOO = {query: counting_too(query) for query in (_CALLER, _CALLER_AND_RIGHTS)}


class Authenticated(NamedTuple):
    organisation: Organisation
    access: Access | None  # for a collection asked about, if the organisation may use it
    requests: int | None  # this minute, if counted by the statement that authenticated


def authenticate(
    session: Session,
    key_id: str,
    secret: str,
    collection_id: str | None = None,
    *,
    counted_minute: int | None = None,
) -> Authenticated | None:
    """The organisation a live key belongs to, or None; and, for `collection_id`, its rights
    on that collection: None when it may neither read nor write it, so that a collection it
    cannot see is indistinguishable from a missing one. With `counted_minute`, the same
    statement counts the request in that minute (PostgreSQL only, see `counting_too`). One
    statement: it runs on every request."""
    query = _CALLER if collection_id is None else _CALLER_AND_RIGHTS
    secret_hash = _hash(secret)
    params: dict[str, object] = {"key_id": key_id, "collection_id": collection_id}
    if counted_minute is not None:
        query = _COUNTING_TOO[query]
        params.update(minute=counted_minute, secret_hash=secret_hash)
    row = session.execute(query, params).first()
    if row is None or not hmac.compare_digest(row[0], secret_hash):
        return None
    organisation: Organisation = row[1]
    requests = None if counted_minute is None else row[-1]
    if collection_id is None or row[2] is None:
        return Authenticated(organisation, None, requests)
    served = None if row[5] is None else Served(row[5], row[6])
    access = _rights(organisation, row[2], bool(row[3]), bool(row[4]), served)
    return Authenticated(organisation, access, requests)


def _rights(
    organisation: Organisation,
    collection: Collection,
    can_read: bool,
    can_write: bool,
    served: Served | None,
) -> Access | None:
    if organisation.role == Role.ADMIN:
        return Access(organisation, collection, True, False)
    if can_read or can_write:
        return Access(organisation, collection, can_read, can_write, served)
    return None


def _publish(session: Session, collection_id: str, objects: list[bytes]) -> None:
    """Put objects (identities, definitions) in a collection, so readers can resolve refs."""
    add_objects(session, collection_id, [Candidate.of(orjson.loads(raw), raw) for raw in objects])


def _grant(
    session: Session, collection_id: str, organisation_id: str, *, read: bool, write: bool
) -> None:
    grant = session.get(Grant, (collection_id, organisation_id))
    if grant is None:
        grant = Grant(
            collection_id=collection_id,
            organisation_id=organisation_id,
            can_read=read,
            can_write=write,
        )
    else:
        grant.can_read, grant.can_write = read, write
    session.add(grant)


_REPORTS_TITLE = "{} (reports)"


def create_feed(
    session: Session,
    owner: Organisation,
    title: str,
    *,
    description: str | None = None,
    alias: str | None = None,
) -> tuple[Collection, Collection]:
    """A watchdog's feed and, beside it, the reports collection its subscribers write to."""
    if owner.role != Role.WATCHDOG:
        raise BadRequest(f"{owner.name} is {with_article(owner.role)}; only a watchdog owns feeds")
    columns = Collection.__table__.c  # type: ignore[attr-defined]
    _check_name("a feed title", title, columns.title, room=len(_REPORTS_TITLE.format("")))
    if alias is not None:
        _check_name("a feed alias", alias, columns.alias, room=len(reports_alias("")))
    longest = columns.description.type.length
    if description is not None and (len(description) > longest or "\x00" in description):
        raise BadRequest(f"a feed description is text of at most {longest} characters")
    feed_id = str(uuid.uuid4())
    # Clients find a feed's reports collection by this alias: titles need not be unique.
    reports_named = reports_alias(alias or feed_id)
    for wanted in (alias, reports_named):
        taken = select(Collection).where(col(Collection.alias) == wanted)
        if wanted is not None and session.exec(taken).first():
            raise BadRequest(
                f"a collection with alias {wanted!r} already exists"
                + ("" if wanted == alias else ": the feed's reports collection would take it")
            )
    feed = Collection(
        id=feed_id,
        title=title,
        description=description,
        alias=alias,
        kind=CollectionKind.FEED,
        owner_id=owner.id,
    )
    reports = Collection(
        id=str(uuid.uuid4()),
        title=_REPORTS_TITLE.format(title),
        description=f"Sightings reported by the subscribers of {title}; only its owner reads them.",
        alias=reports_named,
        kind=CollectionKind.REPORTS,
        owner_id=owner.id,
        feed_id=feed.id,
    )
    session.add(feed)
    session.flush()
    session.add(reports)
    session.flush()
    _grant(session, feed.id, owner.id, read=True, write=True)
    _grant(session, reports.id, owner.id, read=True, write=False)
    _publish(session, feed.id, [orjson.dumps(o) for o in definitions()] + [owner.identity.encode()])
    return feed, reports


def find_feed(session: Session, id_or_alias: str) -> Collection:
    query = select(Collection).where(
        col(Collection.kind) == CollectionKind.FEED,
        or_(col(Collection.id) == id_or_alias, col(Collection.alias) == id_or_alias),
    )
    feed = session.exec(query).one_or_none()
    if feed is None:
        raise NotFound(f"no feed with id or alias {id_or_alias!r}")
    return feed


def grant_feed(session: Session, feed: Collection, exchange: Organisation) -> None:
    """Let an exchange read a feed and write sightings to its reports collection."""
    _require_exchange(exchange)
    reports = session.exec(select(Collection).where(col(Collection.feed_id) == feed.id)).one()
    _grant(session, feed.id, exchange.id, read=True, write=False)
    _grant(session, reports.id, exchange.id, read=False, write=True)
    _publish(session, reports.id, [exchange.identity.encode()])
    audit.record(session, audit.event(exchange.id, Action.GRANTED, feed.id, at=now_micros()))


def _require_exchange(organisation: Organisation) -> None:
    if organisation.role != Role.EXCHANGE:
        raise BadRequest(
            f"{organisation.name} is {with_article(organisation.role)}; feeds are granted to "
            "exchanges"
        )


def withdraw_feed(session: Session, feed: Collection, exchange: Organisation) -> None:
    """Stop an exchange reading a feed and reporting to it, from its next request; what it
    reported stays with the feed's owner."""
    _require_exchange(exchange)
    feed_and_reports = select(Collection.id).where(
        or_(col(Collection.id) == feed.id, col(Collection.feed_id) == feed.id)
    )
    grants = session.exec(
        select(Grant).where(
            col(Grant.organisation_id) == exchange.id,
            col(Grant.collection_id).in_(feed_and_reports),
        )
    ).all()
    if not grants:
        raise NotFound(f"{exchange.name} has no grant of {feed.alias or feed.id}")
    for withdrawn in grants:
        session.delete(withdrawn)
    audit.record(session, audit.event(exchange.id, Action.WITHDRAWN, feed.id, at=now_micros()))


class Listed(NamedTuple):
    """A feed, its owner's name and the names of the exchanges granted it."""

    feed: Collection
    owner: str
    exchanges: list[str]


def list_feeds(session: Session) -> list[Listed]:
    owners = dict(session.exec(select(Organisation.id, Organisation.name)).all())
    feeds = session.exec(
        select(Collection).where(col(Collection.kind) == CollectionKind.FEED)
    ).all()
    readers = session.exec(
        select(Grant.collection_id, Organisation.name)
        .join(Organisation, col(Organisation.id) == Grant.organisation_id)
        .where(col(Organisation.role) == Role.EXCHANGE, col(Grant.can_read))
        .order_by(col(Organisation.name))
    ).all()
    granted: dict[str, list[str]] = {}
    for collection_id, name in readers:
        granted.setdefault(collection_id, []).append(name)
    listed = [Listed(f, owners[f.owner_id], granted.get(f.id, [])) for f in feeds]
    return sorted(listed, key=lambda entry: (entry.owner, entry.feed.title, entry.feed.id))


def list_keys(session: Session, organisation: Organisation) -> list[ApiKey]:
    """The organisation's keys, the newest first, revoked ones too."""
    keys = select(ApiKey).where(col(ApiKey.organisation_id) == organisation.id)
    return list(session.exec(keys.order_by(col(ApiKey.created_at).desc())))


def accessible_collections(session: Session, organisation: Organisation) -> list[Access]:
    """Collections the organisation may read or write; an admin reads them all."""
    if organisation.role == Role.ADMIN:
        collections = select(Collection).order_by(col(Collection.title))
        return [Access(organisation, c, True, False) for c in session.exec(collections)]
    granted = (
        select(Collection, Grant.can_read, Grant.can_write)
        .join(Grant, col(Grant.collection_id) == Collection.id)
        .where(
            col(Grant.organisation_id) == organisation.id,
            or_(col(Grant.can_read), col(Grant.can_write)),
        )
    )
    found = session.exec(granted.order_by(col(Collection.title)))
    return [Access(organisation, *row) for row in found]


def list_organisations(session: Session) -> list[Organisation]:
    return list(session.exec(select(Organisation).order_by(col(Organisation.name))))

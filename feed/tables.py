"""SQLModel tables. Times are integer microseconds since the epoch (UTC), the same unit as
TAXII `date_added`, so every timestamp formats one way and compares exactly on every backend.

Invariants kept by feed.store:
- within a collection, `date_added` is unique and increases in commit order;
- exactly one version of each object in a collection has `is_latest` set: the greatest
  `version` (ties impossible: (collection, object, version) is unique);
- `body` is the object's JSON exactly as received.
"""

from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Enum,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    literal_column,
)
from sqlmodel import Field, SQLModel

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL needs 64 bits at scale.
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")


class Role(StrEnum):
    WATCHDOG = "watchdog"
    EXCHANGE = "exchange"
    ADMIN = "admin"


class CollectionKind(StrEnum):
    FEED = "feed"
    REPORTS = "reports"


def _enum_column(enum: type[StrEnum]) -> Enum:
    """Stored as its values in a plain VARCHAR, so new members need no database type change."""
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda members: [member.value for member in members],
    )


class Organisation(SQLModel, table=True):
    __tablename__ = "organisation"

    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(unique=True, max_length=200)
    role: Role = Field(sa_type=_enum_column(Role))
    # The organisation's STIX identity (JSON); its id is identity--<organisation id>.
    identity: str = Field(sa_column=Column(Text, nullable=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))

    @property
    def identity_id(self) -> str:
        return f"identity--{self.id}"


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: str = Field(primary_key=True, max_length=40)
    organisation_id: str = Field(foreign_key="organisation.id", index=True, max_length=36)
    secret_hash: str = Field(max_length=64)
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    revoked_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class Collection(SQLModel, table=True):
    __tablename__ = "collection"

    id: str = Field(primary_key=True, max_length=36)
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    alias: str | None = Field(default=None, unique=True, max_length=100)
    kind: CollectionKind = Field(sa_type=_enum_column(CollectionKind))
    owner_id: str = Field(foreign_key="organisation.id", index=True, max_length=36)
    feed_id: str | None = Field(default=None, foreign_key="collection.id", max_length=36)
    # The greatest date_added handed out; read and advanced only under the collection's lock.
    last_date_added: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class Grant(SQLModel, table=True):
    __tablename__ = "grant"

    collection_id: str = Field(foreign_key="collection.id", primary_key=True, max_length=36)
    organisation_id: str = Field(foreign_key="organisation.id", primary_key=True, max_length=36)
    can_read: bool
    can_write: bool


class ObjectVersion(SQLModel, table=True):
    __tablename__ = "object_version"
    __table_args__ = (
        UniqueConstraint("collection_id", "date_added", name="uq_object_version_date_added"),
        Index("ix_object_version_latest", "collection_id", "is_latest", "date_added"),
    )

    row: int | None = Field(
        default=None, sa_column=Column(_ROW_ID, primary_key=True, autoincrement=True)
    )
    # No foreign key: a row is only written under its collection's row lock, which proves
    # the collection exists, and a per-row check of it cost ingest a sixth of its speed.
    collection_id: str = Field(max_length=36)
    object_id: str = Field(max_length=300)
    type: str = Field(max_length=250)
    spec_version: str = Field(max_length=8)
    # Fixed-width YYYY-MM-DDTHH:MM:SS.ffffffZ, so text order is time order.
    version: str = Field(max_length=27)
    date_added: int = Field(sa_column=Column(BigInteger, nullable=False))
    is_latest: bool
    body: str = Field(sa_column=Column(Text, nullable=False))


def _keyed_collection(versions: Any) -> ColumnElement[str]:
    keyed: ColumnElement[str] = versions.c.collection_id.concat(literal_column("''"))
    return keyed


def in_collection(versions: Any, collection: str | ColumnElement[str]) -> ColumnElement[bool]:
    """Rows of `versions` (the object_version table or an alias of it) in `collection`,
    compared through the expression that the unique key of versions leads with. No other index
    is keyed by it, so a query that knows an object's id and compares its collection this way
    is planned through that key whatever the statistics say: taken while a feed was small (a
    new feed beside millions of versions), they would have either planner read the feed
    through its page indexes, every row of it for each object."""
    return _keyed_collection(versions) == collection


OBJECTS = ObjectVersion.__table__  # type: ignore[attr-defined]
# Collection first, so that a feed's entries lie together: keyed by object id first, each new
# object touched a leaf at random among all the feeds' (some 2 GB at ten million versions).
Index(
    "uq_object_version_version",
    _keyed_collection(OBJECTS),
    OBJECTS.c.object_id,
    OBJECTS.c.version,
    unique=True,
)


class StatusRecord(SQLModel, table=True):
    __tablename__ = "status"

    id: str = Field(primary_key=True, max_length=36)
    collection_id: str = Field(foreign_key="collection.id", max_length=36)
    organisation_id: str = Field(foreign_key="organisation.id", max_length=36)
    request_timestamp: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    total_count: int
    success_count: int
    failure_count: int
    pending_count: int
    # JSON: {"successes": [...], "failures": [...]} as TAXII status details.
    details: str = Field(sa_column=Column(Text, nullable=False))


class ServerKey(SQLModel, table=True):
    """Secrets shared by every server process over one database (e.g. the cursor key)."""

    __tablename__ = "server_key"

    name: str = Field(primary_key=True, max_length=40)
    value: str = Field(max_length=128)


class FlaggedAddress(SQLModel, table=True):
    """The addresses flagged by the latest, unrevoked version of each indicator, for the
    lookup endpoint. One row per domain an address is screened in (see Address.domain)."""

    __tablename__ = "flagged_address"
    # Found by equal keys only: on PostgreSQL a hash index, cheaper to insert into than a
    # B-tree of the text (see migration 0011).
    __table_args__ = (Index("ix_flagged_address_key", "address_key", postgresql_using="hash"),)

    # The object version the row is of: keyed by its row, which grows as versions are added,
    # new rows land at the end of the key. Keyed by collection and object id, they landed at
    # random, and each POST of 1,000 rewrote a page of the key per row.
    version_row: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    collection_id: str = Field(max_length=36)  # as in ObjectVersion
    object_id: str = Field(max_length=300)
    domain: str = Field(max_length=64, primary_key=True)
    address_key: str = Field(max_length=128)
    chain: str = Field(max_length=64)
    address: str = Field(max_length=128)
    version: str = Field(max_length=27)
    category: str | None = Field(default=None, max_length=32)
    confidence: int | None = None
    valid_until: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_by_ref: str | None = Field(default=None, max_length=300)


class Delivery(SQLModel, table=True):
    """How far one organisation has been served a collection and has acknowledged it: a
    watermark, not a row per object. Times are date_added values or instants, in microseconds."""

    __tablename__ = "delivery"

    collection_id: str = Field(foreign_key="collection.id", primary_key=True, max_length=36)
    organisation_id: str = Field(foreign_key="organisation.id", primary_key=True, max_length=36)
    last_poll: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    served_through: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    acknowledged_through: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    acknowledged_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class ObjectOutcome(SQLModel, table=True):
    """What an organisation said of one object version it received, kept only when sent."""

    __tablename__ = "object_outcome"

    collection_id: str = Field(foreign_key="collection.id", primary_key=True, max_length=36)
    organisation_id: str = Field(foreign_key="organisation.id", primary_key=True, max_length=36)
    object_id: str = Field(primary_key=True, max_length=300)
    version: str = Field(primary_key=True, max_length=27)
    outcome: str = Field(max_length=16)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    recorded_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class AuditEvent(SQLModel, table=True):
    """Who did what to which collection, and when: publications, revocations, deletions,
    reports, acknowledgements, and reads (recorded when a reader's served watermark moves);
    and whose access an operator changed: grants, withdrawals, keys issued and revoked."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_at", "at"),)

    row: int | None = Field(
        default=None, sa_column=Column(_ROW_ID, primary_key=True, autoincrement=True)
    )
    at: int = Field(sa_column=Column(BigInteger, nullable=False))
    organisation_id: str = Field(foreign_key="organisation.id", max_length=36, index=True)
    action: str = Field(max_length=16)
    collection_id: str | None = Field(default=None, max_length=36, index=True)
    count: int = 0
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))


class RateWindow(SQLModel, table=True):
    """Requests an organisation made in one minute, counted in the database so that every
    server process enforces one limit. SQLite counts in a file of its own instead (see
    `database.request_counts_engine`), in a table of the same shape."""

    __tablename__ = "rate_window"

    organisation_id: str = Field(foreign_key="organisation.id", primary_key=True, max_length=36)
    minute: int = Field(sa_column=Column(BigInteger, primary_key=True))
    count: int = 0

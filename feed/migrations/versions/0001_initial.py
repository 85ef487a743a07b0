"""Organisations, keys, collections, grants, object versions, statuses, server keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "organisation",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("identity", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "api_key",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "organisation_id", sa.String(36), sa.ForeignKey("organisation.id"), nullable=False
        ),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_api_key_organisation_id", "api_key", ["organisation_id"])
    op.create_table(
        "collection",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.String(2000), nullable=True),
        sa.Column("alias", sa.String(100), nullable=True, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("owner_id", sa.String(36), sa.ForeignKey("organisation.id"), nullable=False),
        sa.Column("feed_id", sa.String(36), sa.ForeignKey("collection.id"), nullable=True),
        sa.Column("last_date_added", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_collection_owner_id", "collection", ["owner_id"])
    op.create_table(
        "grant",
        sa.Column("collection_id", sa.String(36), sa.ForeignKey("collection.id"), primary_key=True),
        sa.Column(
            "organisation_id", sa.String(36), sa.ForeignKey("organisation.id"), primary_key=True
        ),
        sa.Column("can_read", sa.Boolean(), nullable=False),
        sa.Column("can_write", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "object_version",
        sa.Column("row", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("collection_id", sa.String(36), sa.ForeignKey("collection.id"), nullable=False),
        sa.Column("object_id", sa.String(300), nullable=False),
        sa.Column("type", sa.String(250), nullable=False),
        sa.Column("spec_version", sa.String(8), nullable=False),
        sa.Column("version", sa.String(27), nullable=False),
        sa.Column("date_added", sa.BigInteger(), nullable=False),
        sa.Column("is_latest", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.UniqueConstraint("collection_id", "date_added", name="uq_object_version_date_added"),
        sa.UniqueConstraint(
            "collection_id", "object_id", "version", name="uq_object_version_version"
        ),
    )
    op.create_index(
        "ix_object_version_latest", "object_version", ["collection_id", "is_latest", "date_added"]
    )
    op.create_table(
        "status",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("collection_id", sa.String(36), sa.ForeignKey("collection.id"), nullable=False),
        sa.Column(
            "organisation_id", sa.String(36), sa.ForeignKey("organisation.id"), nullable=False
        ),
        sa.Column("request_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("total_count", sa.Integer(), nullable=False),
        sa.Column("success_count", sa.Integer(), nullable=False),
        sa.Column("failure_count", sa.Integer(), nullable=False),
        sa.Column("pending_count", sa.Integer(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
    )
    op.create_index("ix_status_request_timestamp", "status", ["request_timestamp"])
    server_key = op.create_table(
        "server_key",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
    )
    # Generated here, so every process over this database signs cursors with one key.
    op.bulk_insert(server_key, [{"name": "cursor", "value": secrets.token_hex(32)}])


def downgrade() -> None:
    for table in ("server_key", "status", "object_version", "grant", "collection", "api_key"):
        op.drop_table(table)
    op.drop_table("organisation")

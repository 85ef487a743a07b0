"""The index of flagged addresses behind the lookup endpoint, filled from stored indicators.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

from feed.lookup import flags

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "flagged_address",
        sa.Column("collection_id", sa.String(36), sa.ForeignKey("collection.id"), primary_key=True),
        sa.Column("object_id", sa.String(300), primary_key=True),
        sa.Column("domain", sa.String(64), primary_key=True),
        sa.Column("address_key", sa.String(128), nullable=False),
        sa.Column("chain", sa.String(64), nullable=False),
        sa.Column("address", sa.String(128), nullable=False),
        sa.Column("version", sa.String(27), nullable=False),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("confidence", sa.Integer(), nullable=True),
        sa.Column("valid_until", sa.BigInteger(), nullable=True),
        sa.Column("created_by_ref", sa.String(300), nullable=True),
    )
    op.create_index("ix_flagged_address_key", "flagged_address", ["domain", "address_key"])
    latest = sa.text(
        "SELECT collection_id, version, body FROM object_version "
        "WHERE type = 'indicator' AND is_latest"
    )
    rows: list[dict[str, Any]] = []
    for collection_id, version, body in op.get_bind().execute(latest):
        value = orjson.loads(body)
        where = {"collection_id": collection_id, "object_id": value["id"], "version": version}
        rows.extend({**flag, **where} for flag in flags(value))
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table("flagged_address")

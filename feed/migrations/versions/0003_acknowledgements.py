"""Deliveries (served-through and acknowledged-through watermarks) and per-object outcomes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _keys() -> list[sa.Column[str]]:
    return [
        sa.Column("collection_id", sa.String(36), sa.ForeignKey("collection.id"), primary_key=True),
        sa.Column(
            "organisation_id", sa.String(36), sa.ForeignKey("organisation.id"), primary_key=True
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "delivery",
        *_keys(),
        sa.Column("last_poll", sa.BigInteger(), nullable=True),
        sa.Column("served_through", sa.BigInteger(), nullable=False),
        sa.Column("acknowledged_through", sa.BigInteger(), nullable=False),
        sa.Column("acknowledged_at", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "object_outcome",
        *_keys(),
        sa.Column("object_id", sa.String(300), primary_key=True),
        sa.Column("version", sa.String(27), primary_key=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("object_outcome")
    op.drop_table("delivery")

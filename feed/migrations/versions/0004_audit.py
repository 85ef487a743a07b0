"""The audit log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("row", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column(
            "organisation_id", sa.String(36), sa.ForeignKey("organisation.id"), nullable=False
        ),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("collection_id", sa.String(36), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_audit_event_at", "audit_event", ["at"])
    op.create_index("ix_audit_event_organisation_id", "audit_event", ["organisation_id"])
    op.create_index("ix_audit_event_collection_id", "audit_event", ["collection_id"])


def downgrade() -> None:
    op.drop_table("audit_event")

"""The unique key of object versions leads with its collection again, as the expression
`collection_id || ''`, which no other index is keyed by: finding one object is still planned
through it whatever the statistics say of its collection's size, and a feed's entries lie
together, where keyed by object id first each new object touched a leaf at random among all
the feeds' (some 2 GB at ten million versions, written whole to the log after a checkpoint).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("object_version") as table:
        table.drop_constraint("uq_object_version_version", type_="unique")
    op.create_index(
        "uq_object_version_version",
        "object_version",
        [sa.text("(collection_id || '')"), "object_id", "version"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_object_version_version", "object_version")
    with op.batch_alter_table("object_version") as table:
        table.create_unique_constraint(
            "uq_object_version_version", ["object_id", "collection_id", "version"]
        )

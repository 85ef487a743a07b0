"""The unique key of object versions leads with the object id, so that finding one object is
planned through it whatever the statistics say of its collection's size (stale statistics made
PostgreSQL probe through the collection's page index, reading every row of it per id).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("object_version") as table:
        table.drop_constraint("uq_object_version_version", type_="unique")
        table.create_unique_constraint(
            "uq_object_version_version", ["object_id", "collection_id", "version"]
        )


def downgrade() -> None:
    with op.batch_alter_table("object_version") as table:
        table.drop_constraint("uq_object_version_version", type_="unique")
        table.create_unique_constraint(
            "uq_object_version_version", ["collection_id", "object_id", "version"]
        )

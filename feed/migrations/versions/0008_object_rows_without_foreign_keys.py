"""Object versions and their address index rows no longer check their collection per row: they
are only written under the collection's row lock, which proves it exists, and the per-row
check cost ingest a sixth of its speed.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("object_version", "flagged_address")
# SQLite keeps its foreign keys unnamed: batch mode names them by this convention to drop them.
_NAMES = {"fk": "%(table_name)s_%(column_0_name)s_fkey"}


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, naming_convention=_NAMES) as batch:
            batch.drop_constraint(f"{table}_collection_id_fkey", type_="foreignkey")


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, naming_convention=_NAMES) as batch:
            batch.create_foreign_key(
                f"{table}_collection_id_fkey", "collection", ["collection_id"], ["id"]
            )

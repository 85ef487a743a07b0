"""The address index is keyed by the object version each row is of, whose row numbers grow as
versions are added, instead of by collection and object id, which land at random: a POST of
1,000 indicators rewrote a page of that key per indicator, and its commits grew with the table.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The copy from the old table into the new, each way.
_UPGRADE = (
    "INSERT INTO flagged_address_new (version_row, collection_id, object_id, domain, "
    "address_key, chain, address, version, category, confidence, valid_until, created_by_ref) "
    'SELECT v."row", f.collection_id, f.object_id, f.domain, f.address_key, f.chain, '
    "f.address, f.version, f.category, f.confidence, f.valid_until, f.created_by_ref "
    "FROM flagged_address AS f JOIN object_version AS v ON v.object_id = f.object_id "
    "AND v.collection_id = f.collection_id AND v.version = f.version"
)
_DOWNGRADE = (
    "INSERT INTO flagged_address_new (collection_id, object_id, domain, address_key, chain, "
    "address, version, category, confidence, valid_until, created_by_ref) "
    "SELECT collection_id, object_id, domain, address_key, chain, address, version, category, "
    "confidence, valid_until, created_by_ref FROM flagged_address"
)


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("collection_id", sa.String(36), nullable=False),
        sa.Column("object_id", sa.String(300), nullable=False),
        sa.Column("domain", sa.String(64), nullable=False),
        sa.Column("address_key", sa.String(128), nullable=False),
        sa.Column("chain", sa.String(64), nullable=False),
        sa.Column("address", sa.String(128), nullable=False),
        sa.Column("version", sa.String(27), nullable=False),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("confidence", sa.Integer(), nullable=True),
        sa.Column("valid_until", sa.BigInteger(), nullable=True),
        sa.Column("created_by_ref", sa.String(300), nullable=True),
    ]


def _replace(columns: list[sa.Column[object]], key: list[str], copy: str) -> None:
    """Make the table anew with `columns` and primary `key`, filled by `copy` from the old
    one, under the old name and with the old key's name."""
    op.create_table("flagged_address_new", *columns, sa.PrimaryKeyConstraint(*key))
    op.execute(copy)
    op.drop_index("ix_flagged_address_key", table_name="flagged_address")
    op.drop_table("flagged_address")
    op.rename_table("flagged_address_new", "flagged_address")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE flagged_address "
            "RENAME CONSTRAINT flagged_address_new_pkey TO flagged_address_pkey"
        )
    op.create_index("ix_flagged_address_key", "flagged_address", ["domain", "address_key"])


def upgrade() -> None:
    # Only the latest version of an object is indexed; its row is found by its unique key.
    _replace(
        [sa.Column("version_row", sa.BigInteger(), autoincrement=False), *_columns()],
        ["version_row", "domain"],
        _UPGRADE,
    )


def downgrade() -> None:
    _replace(
        _columns(),
        ["collection_id", "object_id", "domain"],
        _DOWNGRADE,
    )

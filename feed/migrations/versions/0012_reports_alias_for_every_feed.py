"""Every reports collection has an alias, `<feed alias or feed id>-reports`, by which clients
find it: a feed without an alias had a reports collection known only by its title, which two
feeds may share, so a client could pick the other feed's.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE collection SET alias = feed_id || '-reports' "
        "WHERE kind = 'reports' AND alias IS NULL"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE collection SET alias = NULL "
        "WHERE kind = 'reports' AND alias = feed_id || '-reports'"
    )

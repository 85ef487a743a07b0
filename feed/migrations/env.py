"""Alembic environment: runs migrations on the engine handed over by feed.database.migrate."""

from alembic import context
from sqlalchemy import Connection, text
from sqlmodel import SQLModel

import feed.tables  # noqa: F401  (registers the tables on SQLModel.metadata)

# Any constant shared by every process; serialises concurrent `feed serve` start-ups.
_MIGRATION_LOCK = 7_302_114


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    with context.begin_transaction():
        context.run_migrations()


_run(context.config.attributes["connection"])

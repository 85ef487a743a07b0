"""Alembic migrations; run with `feed db upgrade` (and by `feed serve` on start)."""

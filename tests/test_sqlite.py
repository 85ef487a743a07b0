"""The write-ahead log of both SQLite files: the server's database and the exchange's mirror."""

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from feed.config import Settings
from feed.database import create_engine_for
from feed.mirror import Mirror


@contextmanager
def _server_database(path: Path) -> Iterator[sqlite3.Connection]:
    engine = create_engine_for(Settings(database_url=f"sqlite:///{path}"))
    try:
        with engine.connect() as connection:
            driver = connection.connection.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            yield driver
    finally:
        engine.dispose()


@contextmanager
def _mirror(path: Path) -> Iterator[sqlite3.Connection]:
    with Mirror(path) as mirror:
        yield mirror._db


@pytest.mark.parametrize("opened", [_server_database, _mirror])
def test_the_log_is_copied_into_the_database_in_large_steps(
    opened: Callable[[Path], AbstractContextManager[sqlite3.Connection]], tmp_path: Path
) -> None:
    with opened(tmp_path / "feed.db") as connection:
        settings = [
            connection.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "wal_autocheckpoint", "journal_size_limit")
        ]
    # Sixteen times SQLite's default, and the log trimmed back to its 64 MB after a checkpoint.
    assert settings == ["wal", 16384, 64 * 2**20]

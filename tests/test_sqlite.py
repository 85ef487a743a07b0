"""The write-ahead log of both SQLite files, the server's database and the exchange's mirror,
and a backup made while a writer is at work."""

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from pathlib import Path

import pytest

from feed.config import Settings
from feed.database import create_engine_for, migrate
from feed.errors import ConfigurationError
from feed.mirror import Mirror
from feed.sqlite import back_up


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


def test_a_backup_holds_what_was_committed_while_a_writer_is_at_work(tmp_path: Path) -> None:
    database, copy = tmp_path / "feed.db", tmp_path / "backup.db"
    with _server_database(database) as connection:
        connection.execute("CREATE TABLE flags (address TEXT)")
        connection.execute("INSERT INTO flags VALUES ('committed')")
        connection.execute("BEGIN IMMEDIATE")  # a writer midway through a POST
        connection.execute("INSERT INTO flags VALUES ('not yet')")
        assert back_up(str(database), copy) == copy.stat().st_size
        connection.execute("COMMIT")
    with closing(sqlite3.connect(copy)) as backed:
        assert backed.execute("SELECT address FROM flags").fetchall() == [("committed",)]
    with pytest.raises(ConfigurationError, match=r"backup\.db exists: a backup is made as a new"):
        back_up(str(database), copy)
    with pytest.raises(ConfigurationError, match="no SQLite database at"):
        back_up(str(tmp_path / "elsewhere.db"), tmp_path / "other.db")
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"SQLite format 3\0" + bytes(4080))
    with pytest.raises(ConfigurationError, match=r"cannot back .*damaged\.db up to"):
        back_up(str(damaged), tmp_path / "third.db")
    assert not (tmp_path / "third.db").exists()  # no half-made copy is left to be trusted


def test_feed_db_backup_copies_the_configured_database(tmp_path: Path) -> None:
    def backup(url: str, destination: Path) -> "subprocess.CompletedProcess[str]":
        return subprocess.run(
            [sys.executable, "-m", "feed.cli", "db", "backup", str(destination)],
            env={**os.environ, "FEED_DATABASE_URL": url}, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip

    url = f"sqlite:///{tmp_path / 'feed.db'}"
    engine = create_engine_for(Settings(database_url=url))
    try:
        migrate(engine)
    finally:
        engine.dispose()
    made = backup(url, tmp_path / "copy.db")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"backed {tmp_path / 'feed.db'} up to {tmp_path / 'copy.db'} (")
    with closing(sqlite3.connect(tmp_path / "copy.db")) as copied:
        assert copied.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
    refused = backup("postgresql://postgres@127.0.0.1/feed", tmp_path / "pg.db")
    assert (refused.returncode, refused.stderr) == (
        1, "error: the database is postgresql, not a SQLite file: back it up with its own tools "
        "(pg_dump for PostgreSQL)\n",
    )  # fmt: skip

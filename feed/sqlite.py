"""How the project's SQLite files keep their write-ahead log, and how one is copied while in
use: the server's database and the exchange's mirror alike. No database layer here, so the
mirror needs none."""

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from feed.errors import ConfigurationError

# Pages (of 4 kB) the log grows to before a commit copies it into the database. At SQLite's
# default of 1,000, a batch of 1,000 indicators (a POST, a polled page) copied the log after
# nearly every commit, pages that the next batch changes again: sixteen times as many pages
# halve the server's commit and speed a mirror's sync by a sixth.
_CHECKPOINT_PAGES = 16384

WRITE_AHEAD_LOG = (
    "journal_mode=WAL",
    f"wal_autocheckpoint={_CHECKPOINT_PAGES}",
    f"journal_size_limit={_CHECKPOINT_PAGES * 4096}",  # trimmed back to this after a checkpoint
)

# A checkpoint after a commit copies the log into the database, but the log starts over only
# when a writer begins after it with no other writer in between. Server processes posting in
# turn always had one in between, and the log grew past a gigabyte by 300,000 indicators,
# every page read searching it. A log past twice its checkpoint size has not started over;
# the writer that finds it so waits for the others and empties it.
_OUTGROWN_BYTES = 2 * _CHECKPOINT_PAGES * 4096

START_LOG_OVER = "PRAGMA wal_checkpoint(TRUNCATE)"


def log_outgrown(database: str) -> bool:
    """Whether the log of the SQLite file `database` is past the size it is kept to."""
    try:
        return os.stat(f"{database}-wal").st_size > _OUTGROWN_BYTES
    except FileNotFoundError:
        return False


def back_up(database: str, destination: Path) -> int:
    """Copy the SQLite file `database` into `destination`, a new file, as it stood at one
    moment, while others may go on writing to it: SQLite's online backup in one step, which
    reads as any reader of the log does and sees no commit made after it began. The copy is
    checked (`quick_check`) before it counts as made. Returns its size in bytes."""
    if not os.path.isfile(database):
        raise ConfigurationError(f"no SQLite database at {database}")
    if destination.exists():
        raise ConfigurationError(f"{destination} exists: a backup is made as a new file")
    try:
        with (
            closing(sqlite3.connect(database)) as source,
            closing(sqlite3.connect(destination)) as copy,
        ):
            source.backup(copy)
            found = copy.execute("PRAGMA quick_check").fetchall()
    except sqlite3.Error as error:
        destination.unlink(missing_ok=True)
        raise ConfigurationError(f"cannot back {database} up to {destination}: {error}") from None
    if found != [("ok",)]:
        destination.unlink()
        raise ConfigurationError(f"the copy of {database} does not check out: {found[:3]}")
    return destination.stat().st_size

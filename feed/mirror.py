"""The exchange's local mirror of its feeds: the latest version of every flagged-address
indicator, which of them are active, and each feed's poll cursor; the active set it loads
into a `Screener`, or its keys alone into a `KeyScreener`.

One SQLite file. A page of objects and the cursor that follows it are applied in one
transaction, so a poller killed at any point resumes where the last commit left it: nothing is
lost and, since only a newer version replaces an older one, nothing is applied twice.
Indicators leave the active set when revoked or past `valid_until`, and the mirror keeps when
and why. Timestamps are stored in TAXII's fixed 27-character form, so they compare as text."""

import gc
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from feed.addresses import Address
from feed.errors import ConfigurationError, MirrorError, quoted
from feed.keys import Key
from feed.mirror_objects import Applied, apply_object
from feed.screener import KeyScreener, Match, Screener, matches_from_rows
from feed.sqlite import WRITE_AHEAD_LOG
from feed.taxii import format_timestamp, now_micros

SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    collection_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    alias TEXT,
    watermark TEXT,          -- date_added of the last object applied
    next_token TEXT,         -- the server's cursor while a sync is between pages
    next_added_after TEXT,   -- the added_after that cursor belongs to
    last_poll TEXT
);
CREATE TABLE IF NOT EXISTS indicators (
    collection_id TEXT NOT NULL,
    id TEXT NOT NULL,
    domain TEXT NOT NULL,
    address_key TEXT NOT NULL,
    version TEXT NOT NULL,
    watchdog TEXT,
    chain TEXT,
    address TEXT NOT NULL,
    category TEXT,
    confidence INTEGER,
    valid_until TEXT,
    active INTEGER NOT NULL,
    left_at TEXT,
    left_reason TEXT,
    PRIMARY KEY (collection_id, id, domain)
);
CREATE INDEX IF NOT EXISTS indicators_by_address ON indicators (domain, address_key, active);
CREATE TABLE IF NOT EXISTS identities (id TEXT PRIMARY KEY, name TEXT NOT NULL);
"""


class MirroredFeed(NamedTuple):
    """A feed polled into the mirror: its alias (else its title), where it comes from, how far
    it has been polled, and how many of its indicators are active and how many left."""

    collection_id: str
    name: str
    url: str
    last_poll: str | None
    watermark: str | None
    active: int
    left: int


# Seconds a writer waits for another to finish: a poll holds the mirror for a page at a time,
# forgetting a feed of a million indicators for a few seconds.
BUSY_SECONDS = 30.0
# Locked, full, read-only, damaged, not a database: the faults of the file and its disk.
_FILE_FAULTS = (sqlite3.OperationalError, sqlite3.DatabaseError)


class _Connection(sqlite3.Connection):
    """A connection to a mirror whose failures, once it is open, name the mirror and say what
    happened, rather than reach the user as SQLite's bare words ("database is locked"); while
    it opens, `Mirror` says it cannot be opened."""

    path: Path | str | None = None  # set once the mirror is open

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        with self._said():
            return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        with self._said():
            return super().executemany(sql, parameters)

    @contextmanager
    def _said(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as error:
            # An integrity or programming error is this code's own fault: left as it is.
            if self.path is None or type(error) not in _FILE_FAULTS:
                raise
            if (error.sqlite_errorcode or 0) & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise MirrorError(
                    f"the mirror {self.path} is busy: another process (a poll still running?) "
                    f"has held it for writing for {BUSY_SECONDS:g} s; try again"
                ) from None
            raise MirrorError(f"the mirror {self.path}: {error}") from None


def _opened(path: Path | str) -> sqlite3.Connection:
    """A connection to the mirror at `path`, its schema made."""
    db = sqlite3.connect(
        path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False,
        factory=_Connection,
    )  # fmt: skip
    try:
        for pragma in WRITE_AHEAD_LOG:
            db.execute(f"PRAGMA {pragma}")
        db.execute("PRAGMA synchronous = FULL")  # a commit that returned is on disk
        db.executescript(SCHEMA)
    except BaseException:
        db.close()
        raise
    db.path = path
    return db


class Mirror:
    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        """The mirror in the SQLite file at `path`, made there unless `create` is false: a
        screen naming a mistyped path should fail, not make an empty mirror and pass."""
        if not create and not Path(path).is_file():
            raise ConfigurationError(f"no mirror at {path}: `feed poll` makes one")
        self._path = path
        self._closed = False
        try:
            self._db = _opened(path)
        except sqlite3.DatabaseError as error:  # not a SQLite file, or no place to make one
            raise ConfigurationError(f"cannot open the mirror {path}: {error}") from None
        self._seen_version = self._data_version()

    def close(self) -> None:
        self._closed = True
        self._db.close()

    def __enter__(self) -> "Mirror":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def register(self, collection_id: str, url: str, title: str, alias: str | None) -> None:
        self._db.execute(
            "INSERT INTO feeds (collection_id, url, title, alias) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (collection_id) DO UPDATE SET url = ?, title = ?, alias = ?",
            (collection_id, url, title, alias, url, title, alias),
        )

    def cursor(self, collection_id: str) -> tuple[str | None, str | None, str | None]:
        """(watermark, next token, the added_after that token belongs to)."""
        row = self._db.execute(
            "SELECT watermark, next_token, next_added_after FROM feeds WHERE collection_id = ?",
            (collection_id,),
        ).fetchone()
        return (None, None, None) if row is None else (row[0], row[1], row[2])

    def apply(
        self,
        collection_id: str,
        objects: list[Any],
        *,
        watermark: str | None,
        next_token: str | None,
        next_added_after: str | None,
    ) -> Applied:
        """Apply one page and move the cursor past it, in one transaction. What in it is no
        JSON object is counted as ignored."""
        now = format_timestamp(now_micros())
        applied = Applied(objects=len(objects))
        with self._transaction():
            for value in objects:
                if isinstance(value, dict):
                    apply_object(self._db, collection_id, value, now, applied)
                else:
                    applied.ignored += 1
            self._db.execute(
                "UPDATE feeds SET watermark = coalesce(?, watermark), next_token = ?, "
                "next_added_after = ?, last_poll = ? WHERE collection_id = ?",
                (watermark, next_token, next_added_after, now, collection_id),
            )
            applied.left += self._expire(now)
        return applied

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """A write transaction, committed when the block ends without error."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self._db.in_transaction:  # SQLite has rolled back by itself after a full disk
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _expire(self, now: str) -> int:
        return self._db.execute(
            "UPDATE indicators SET active = 0, left_at = valid_until, left_reason = 'expired' "
            "WHERE active = 1 AND valid_until IS NOT NULL AND valid_until <= ?",
            (now,),
        ).rowcount

    def expire(self) -> int:
        """Move indicators past their valid_until out of the active set; how many left."""
        with self._db:
            return self._expire(format_timestamp(now_micros()))

    def indicators(self, *, active: bool | None = None) -> list[dict[str, Any]]:
        """Every indicator row (one per screened domain), for reports and tests."""
        query = "SELECT * FROM indicators"
        if active is not None:
            query += f" WHERE active = {int(active)}"
        cursor = self._db.execute(query + " ORDER BY collection_id, id, domain")
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def feed_of(self, indicator_id: str) -> str:
        """The collection id of the feed an indicator came from."""
        row = self._db.execute(
            "SELECT collection_id FROM indicators WHERE id = ? LIMIT 1", (indicator_id,)
        ).fetchone()
        if row is None:
            raise ConfigurationError(f"{indicator_id} is not in the mirror; name its --feed")
        return str(row[0])

    def changed(self) -> bool:
        """Whether another process (a poll) has committed to the mirror since this was last
        asked, or since the mirror was opened: a service that screens payments builds a new
        screener when it has. It costs a few microseconds, so it can be asked per payment."""
        version = self._data_version()
        changed, self._seen_version = version != self._seen_version, version
        return changed

    def _data_version(self) -> int:
        # SQLite's count of commits by other connections, as this connection has seen them.
        version: int = self._db.execute("PRAGMA data_version").fetchone()[0]
        return version

    def screener(self, only: Iterable[Address] | None = None) -> Screener:
        """The active set in memory; with `only`, just its indicators on those addresses, found
        through the index (checking a few addresses need not load a million). Feed titles and
        watchdog names come from their own small tables rather than a join: a million rows
        then bring fewer strings to share."""
        self._require_polled()
        feeds, names = self._titles()
        if only is not None:
            keys = {(address.domain, address.key) for address in only}
            return Screener(self._matches_on(feeds, names, keys))
        rows = self._db.execute(_ACTIVE_MATCHES)
        # A million matches and no reference cycle among them: the cycle collector, run
        # every few hundred of them, would take a sixth of the load.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return Screener(matches_from_rows(rows, feeds, names))
        finally:
            if collecting:
                gc.enable()

    def key_screener(self) -> KeyScreener:
        """The active set's keys in memory, for screening many addresses at once: a hit's
        matches are read from the mirror as they are then, so it screens only while the
        mirror is open. Each domain's keys come from the index alone, in a range of it."""
        self._require_polled()
        domains = self._db.execute("SELECT DISTINCT domain FROM indicators WHERE active = 1")
        query = "SELECT address_key FROM indicators WHERE domain = ? AND active = 1"
        index = {
            domain: {key for (key,) in self._db.execute(query, (domain,))}
            for (domain,) in domains.fetchall()
        }
        return KeyScreener(index, partial(self._matches_of_hit, *self._titles()))

    def feeds(self) -> list[MirroredFeed]:
        """Every feed polled into the mirror, in the order first polled."""
        rows = self._db.execute(
            "SELECT collection_id, coalesce(alias, title), url, last_poll, watermark, "
            "(SELECT count(DISTINCT id) FROM indicators i WHERE i.collection_id = "
            "f.collection_id AND active = 1), (SELECT count(DISTINCT id) FROM indicators i "
            "WHERE i.collection_id = f.collection_id AND active = 0) FROM feeds f ORDER BY rowid"
        )
        return [MirroredFeed(*row) for row in rows]

    def forget(self, name: str) -> MirroredFeed:
        """Take the feed `name` (alias or collection id) and its indicators out of the mirror,
        so that they screen no more; what it was."""
        named = [feed for feed in self.feeds() if name in (feed.name, feed.collection_id)]
        if len(named) != 1:
            held = ", ".join(f"{feed.name} ({feed.collection_id})" for feed in self.feeds())
            problem = "several feeds are" if named else "no feed is"
            raise ConfigurationError(
                f"{problem} named {quoted(name)} in the mirror {self._path}: it holds "
                f"{held or 'none'}"
            )
        with self._transaction():
            for table in ("indicators", "feeds"):
                delete = f"DELETE FROM {table} WHERE collection_id = ?"  # noqa: S608 (ours)
                self._db.execute(delete, (named[0].collection_id,))
        return named[0]

    def feeds_from(self, url: str) -> list[str]:
        """The feeds polled into the mirror from the server at `url`, by alias (else id)."""
        query = "SELECT coalesce(alias, collection_id) FROM feeds WHERE url = ? ORDER BY rowid"
        return [name for (name,) in self._db.execute(query, (url.rstrip("/"),))]

    def last_polls(self) -> dict[str, str]:
        """When each feed polled into the mirror was last polled, by its alias or title."""
        query = "SELECT coalesce(alias, title), last_poll FROM feeds WHERE last_poll IS NOT NULL"
        return dict(self._db.execute(query))

    def _require_polled(self) -> None:
        """A mirror with no feed polled (never polled, or every feed forgotten) holds nothing:
        screening against it would pass every address."""
        if self._db.execute("SELECT 1 FROM feeds WHERE last_poll IS NOT NULL").fetchone() is None:
            raise ConfigurationError(
                f"the mirror {self._path} holds no feed it has polled, so nothing to screen "
                "against: run `feed poll` first"
            )

    def _titles(self) -> tuple[dict[str, str], dict[str, str]]:
        """Each feed's title (its alias, if it has one), and each watchdog's name."""
        feeds = dict(self._db.execute("SELECT collection_id, coalesce(alias, title) FROM feeds"))
        return feeds, dict(self._db.execute("SELECT id, name FROM identities"))

    def _matches_of_hit(
        self, feeds: dict[str, str], names: dict[str, str], keys: Iterable[Key]
    ) -> Iterator[tuple[str, str, Match]]:
        if self._closed:
            raise ConfigurationError(
                f"the mirror {self._path} is closed: a key screener reads each hit's matches "
                "from it, so it screens only until the mirror is closed (a screener holds its "
                "matches)"
            )
        return self._matches_on(feeds, names, keys)

    def _matches_on(
        self, feeds: dict[str, str], names: dict[str, str], keys: Iterable[Key]
    ) -> Iterator[tuple[str, str, Match]]:
        """The active indicators on `keys`, (domain, key), as screener rows."""
        query = _ACTIVE_MATCHES + " AND domain = ? AND address_key = ?"
        found = (row for key in keys for row in self._db.execute(query, key))
        return matches_from_rows(found, feeds, names)


_ACTIVE_MATCHES = (
    "SELECT domain, address_key, collection_id, watchdog, category, confidence, id, version, "
    "chain, address, valid_until FROM indicators WHERE active = 1"
)

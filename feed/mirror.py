"""The exchange's local mirror of its feeds: the latest version of every flagged-address
indicator, which of them are active, each feed's poll cursor, and screening against them.

One SQLite file. A page of objects and the cursor that follows it are applied in one
transaction, so a poller killed at any point resumes where the last commit left it: nothing is
lost and, since only a newer version replaces an older one, nothing is applied twice.
Indicators leave the active set when revoked or past `valid_until`, and the mirror keeps when
and why. Timestamps are stored in TAXII's fixed 27-character form, so they compare as text."""

import gc
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, NamedTuple

from feed.addresses import Address, parse_address
from feed.client import FeedClient
from feed.errors import ConfigurationError, FeedError, InvalidObject, RemoteError, quoted
from feed.keys import screening_keys
from feed.sqlite import WRITE_AHEAD_LOG
from feed.stix import extension_properties, indicator_addresses
from feed.taxii import (
    MAX_REASON,
    format_timestamp,
    is_object_id,
    normalise_version,
    now_micros,
)

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


class Match(NamedTuple):
    """One active indicator that flags a screened address. A named tuple, not a dataclass: a
    mirror of a million indicators builds a million of them, and a frozen dataclass's
    constructor cost more than reading the rows from SQLite."""

    feed: str
    collection_id: str
    watchdog: str | None
    watchdog_name: str | None
    category: str | None
    confidence: int | None
    indicator_id: str
    version: str
    chain: str | None
    address: str
    valid_until: str | None


@dataclass
class Applied:
    """What one page changed in the mirror, and the objects it could not take, with why."""

    objects: int = 0
    indicators: int = 0
    left: int = 0
    ignored: int = 0
    rejected: list[dict[str, str]] = field(default_factory=list)


def _named(value: dict[str, Any], object_type: str) -> bool:
    """Whether `value` has an id of `object_type`, by which the mirror can keep it."""
    object_id = value.get("id")
    return (
        isinstance(object_id, str)
        and is_object_id(object_id)
        and object_id.startswith(f"{object_type}--")
    )


def _check_kept_properties(value: dict[str, Any]) -> None:
    """Raise InvalidObject for the first property the mirror keeps or acts on that has not
    the type it needs. Whatever server a feed comes from, such an object fails alone, and
    the version the mirror holds stays as it was."""
    revoked, confidence, author = (
        value.get("revoked"),
        value.get("confidence"),
        value.get("created_by_ref"),
    )
    if revoked is not None and not isinstance(revoked, bool):
        raise InvalidObject(f"revoked {quoted(revoked)} is not true or false")
    if confidence is not None and (
        isinstance(confidence, bool)
        or not isinstance(confidence, int)
        or not 0 <= confidence <= 100
    ):
        raise InvalidObject(f"confidence {quoted(confidence)} is not a whole number from 0 to 100")
    if author is not None and not (isinstance(author, str) and is_object_id(author)):
        raise InvalidObject(f"created_by_ref {quoted(author)} is not a STIX identifier")


class Mirror:
    def __init__(self, path: Path | str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in WRITE_AHEAD_LOG:
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute("PRAGMA synchronous = FULL")  # a commit that returned is on disk
        self._db.executescript(SCHEMA)

    def close(self) -> None:
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
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for value in objects:
                if isinstance(value, dict):
                    self._apply_object(collection_id, value, now, applied)
                else:
                    applied.ignored += 1
            self._db.execute(
                "UPDATE feeds SET watermark = coalesce(?, watermark), next_token = ?, "
                "next_added_after = ?, last_poll = ? WHERE collection_id = ?",
                (watermark, next_token, next_added_after, now, collection_id),
            )
            applied.left += self._expire(now)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return applied

    def _apply_object(
        self, collection_id: str, value: dict[str, Any], now: str, applied: Applied
    ) -> None:
        if value.get("type") == "identity" and _named(value, "identity"):
            if not isinstance(value.get("name"), str):
                return
            self._db.execute(
                "INSERT OR REPLACE INTO identities (id, name) VALUES (?, ?)",
                (value["id"], value["name"]),
            )
            return
        if value.get("type") != "indicator":
            return
        if not _named(value, "indicator"):  # nor could it be reported by its id
            applied.ignored += 1
            return
        try:
            version = normalise_version(str(value.get("modified", value.get("created"))))
        except FeedError:
            applied.ignored += 1
            return
        try:
            readings = indicator_addresses(value)
            _check_kept_properties(value)
            until = value.get("valid_until")
            valid_until = (
                None if until is None else normalise_version(str(until), field="valid_until")
            )
        except FeedError as error:  # InvalidObject's reasons, and a bad valid_until's
            applied.ignored += 1
            applied.rejected.append(
                {"id": value["id"], "version": version, "outcome": "rejected",
                 "reason": error.description[:MAX_REASON]}
            )  # fmt: skip
            return
        if not readings:
            applied.ignored += 1
            return
        held = self._db.execute(
            "SELECT version, active FROM indicators WHERE collection_id = ? AND id = ? LIMIT 1",
            (collection_id, value["id"]),
        ).fetchone()
        if held is not None and held[0] >= version:
            return  # latest version wins; a replayed page changes nothing
        if value.get("revoked"):
            active, left_at, reason = 0, version, "revoked"
        elif valid_until is not None and valid_until <= now:
            active, left_at, reason = 0, valid_until, "expired"
        else:
            active, left_at, reason = 1, None, None
        if held is not None and held[1] and not active:
            applied.left += 1
        self._db.execute(
            "DELETE FROM indicators WHERE collection_id = ? AND id = ?",
            (collection_id, value["id"]),
        )
        category = (extension_properties(value) or {}).get("category")
        self._db.executemany(
            "INSERT INTO indicators VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    collection_id, value["id"], a.domain, a.key, version,
                    value.get("created_by_ref"), a.chain.caip2, a.canonical, category,
                    value.get("confidence"), valid_until, active, left_at, reason,
                )
                for a in readings
            ],
        )  # fmt: skip
        applied.indicators += 1

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

    def screener(self, only: Iterable[Address] | None = None) -> "Screener":
        """The active set in memory; with `only`, just its indicators on those addresses, found
        through the index (checking a few addresses need not load a million). Feed titles and
        watchdog names come from their own small tables rather than a join: a million rows
        then bring fewer strings to share."""
        feeds = dict(self._db.execute("SELECT collection_id, coalesce(alias, title) FROM feeds"))
        names = dict(self._db.execute("SELECT id, name FROM identities"))
        query = (
            "SELECT domain, address_key, collection_id, watchdog, category, confidence, id, "
            "version, chain, address, valid_until FROM indicators WHERE active = 1"
        )
        if only is not None:
            wanted = {(address.domain, address.key) for address in only}
            query += " AND domain = ? AND address_key = ?"
            found = [row for key in wanted for row in self._db.execute(query, key)]
            return Screener(_shared_rows(found, feeds, names))
        rows = self._db.execute(query)
        # A million matches and no reference cycle among them: the cycle collector, run
        # every few hundred of them, would take a sixth of the load.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return Screener(_shared_rows(rows, feeds, names))
        finally:
            if collecting:
                gc.enable()


def _shared_rows(
    rows: Iterable[Sequence[Any]], feeds: dict[str, str], names: dict[str, str]
) -> Iterator[tuple[str, str, Match]]:
    """Screener rows with the strings that recur across indicators (collection, watchdog,
    category, chain, a publishing run's version...) shared, and the key, where it is the
    address itself, the address's own string: a million indicators fit in a few hundred MB."""
    intern = sys.intern
    for row in rows:
        (domain, key, collection_id, watchdog, category, confidence, indicator_id, version,
         chain, address, valid_until) = row  # fmt: skip
        feed = feeds.get(collection_id)
        if feed is None:
            continue
        match = Match(
            feed,
            intern(collection_id),
            None if watchdog is None else intern(watchdog),
            None if watchdog is None else names.get(watchdog),
            None if category is None else intern(category),
            confidence,
            indicator_id,
            intern(version),
            None if chain is None else intern(chain),
            address,
            None if valid_until is None else intern(valid_until),
        )
        yield intern(domain), address if key == address else key, match


class Screener:
    """The active flagged set in memory: per screening domain, a dict from address key to its
    one match or, rarely, a list of several (no tuple key and no container per address: a
    million indicators in a few hundred MB)."""

    def __init__(self, rows: Iterable[tuple[str, str, Match]]) -> None:
        self._index: dict[str, dict[str, Match | list[Match]]] = {}
        self._size = 0
        for domain, key, match in rows:
            keys = self._index.setdefault(domain, {})
            held = keys.get(key)
            if held is None:
                self._size += 1
                keys[key] = match
            elif isinstance(held, list):
                held.append(match)
            else:
                keys[key] = [held, match]
        # Payments' addresses recur: a text seen lately is answered by one lookup, not by its
        # readings' lookups in dicts of a million keys. Bound to the index, not to self, so
        # that a screener replaced by a newer one is freed at once, with no cycle to collect.
        self._held_by_text = lru_cache(maxsize=1 << 17)(
            partial(_held_for, self._index, frozenset(self._index), _KeyFilter.over(self._index))
        )

    def __len__(self) -> int:
        return self._size

    def matches(self, address: Address, now: str | None = None) -> list[Match]:
        """Active indicators flagging a canonical address, still valid at `now`."""
        found = _held(self._index, address.domain, address.key)
        return _valid(found, now) if found else []

    def screen(self, text: str, chain: str | None = None, now: str | None = None) -> list[Match]:
        """Matches for an address as written, still valid at `now`; with no chain, every
        chain it may be on. Raises InvalidAddress for text that is no address of the chain
        (or of any)."""
        if chain is not None:
            return self.matches(parse_address(text, chain), now)
        found = self._held_by_text(text)
        return _valid(found, now) if found else []


class _KeyFilter(NamedTuple):
    """A bit per slot, set where the hash of a key held in any domain falls: a key whose bit
    is clear is held nowhere. A miss in a dict of a million keys reads three cache lines that
    are rarely in cache (slot, entry, key); this reads one line of 2 MB (for a million keys).
    With sixteen slots a key held, one key in sixteen that is held nowhere still goes on to
    the dicts."""

    bits: bytes
    mask: int  # of a byte's index

    @classmethod
    def over(cls, index: dict[str, dict[str, Match | list[Match]]]) -> "_KeyFilter":
        size = max(1 << 13, 1 << (16 * sum(map(len, index.values()))).bit_length())
        bits, mask = bytearray(size >> 3), (size >> 3) - 1
        for keys in index.values():
            for key in keys:
                slot = hash(key)  # a str's hash is kept on it: asked again, it is not computed
                bits[slot >> 3 & mask] |= 1 << (slot & 7)
        return cls(bytes(bits), mask)


def _held_for(
    index: dict[str, dict[str, Match | list[Match]]],
    domains: frozenset[str],
    held_anywhere: _KeyFilter,
    text: str,
) -> tuple[Match, ...]:
    """Every match held on a reading of `text`, whether valid now or not. Only chains the
    index holds indicators on can match: `text` is not read as others."""
    keys = screening_keys(text, domains)
    if keys is None:
        parse_address(text)  # raises, saying why
    found: list[Match] = []
    bits, mask = held_anywhere
    # A loop calling no Python function, not a generator or _held: nearly every text finds
    # nothing.
    for domain, key in keys or ():
        slot = hash(key)
        if not bits[slot >> 3 & mask] >> (slot & 7) & 1:
            continue
        held = index[domain].get(key)  # `domains` are the index's own
        if held is not None:
            found += held if isinstance(held, list) else (held,)
    return tuple(found)


def _held(
    index: dict[str, dict[str, Match | list[Match]]], domain: str, key: str
) -> Sequence[Match]:
    """The matches held on an address key in a domain, whether valid now or not."""
    keys = index.get(domain)
    held = None if keys is None else keys.get(key)
    if held is None:
        return ()
    return held if isinstance(held, list) else (held,)


def _valid(found: Sequence[Match], now: str | None) -> list[Match]:
    """The matches still valid at `now`. Callers pass only what matched, so that the clock is
    read only then: nearly every address matches nothing."""
    now = now or format_timestamp(now_micros())
    return [m for m in found if m.valid_until is None or m.valid_until > now]


@dataclass
class Polled:
    feed: str
    pages: int = 0
    objects: int = 0
    indicators: int = 0
    left: int = 0
    ignored: int = 0


# Pages that are empty yet say more follow, in a row, before a poll stops: a server that
# kept answering so, with a new cursor each time, would keep a poller asking for ever.
EMPTY_PAGES_IN_A_ROW = 100


def poll(
    client: FeedClient,
    mirror: Mirror,
    on_page: Callable[[Polled], None] | None = None,
    *,
    acknowledge: bool = True,
) -> Polled:
    """Fetch everything new in the client's feed into the mirror, page by page, from where the
    last poll stopped; after each page is durably applied, acknowledge it (with the objects
    the mirror rejected, and why), unless told not to."""
    collection = client.collection
    mirror.register(collection.id, client.url, collection.title, collection.alias)
    polled = Polled(collection.alias or collection.id)
    watermark, next_token, next_added_after = mirror.cursor(collection.id)
    empty_in_a_row = 0
    while True:
        added_after = next_added_after if next_token else watermark
        try:
            page = client.page(added_after=added_after, next_token=next_token)
        except RemoteError as error:
            if next_token is None or error.status != 400:
                raise
            next_token = None  # a cursor the server no longer takes: go on from the watermark
            continue
        more = page.more and page.next is not None
        if more and page.next == next_token:
            raise RemoteError(
                f"{client.url} answered `next` {next_token!r} with the same `next` again: its "
                "pages do not advance"
            )
        applied = mirror.apply(
            collection.id,
            page.objects,
            watermark=page.date_added_last,
            next_token=page.next if more else None,
            next_added_after=added_after if more else None,
        )
        if acknowledge and (page.date_added_last or watermark):
            through = page.date_added_last or watermark
            assert through is not None
            client.acknowledge(through, applied.rejected)
        polled.pages += 1
        polled.objects += applied.objects
        polled.indicators += applied.indicators
        polled.left += applied.left
        polled.ignored += applied.ignored
        if on_page is not None:
            on_page(polled)
        if not more:
            return polled
        empty_in_a_row = 0 if page.objects else empty_in_a_row + 1
        if empty_in_a_row == EMPTY_PAGES_IN_A_ROW:
            raise RemoteError(
                f"{client.url} answered {empty_in_a_row} empty pages in a row, each saying more "
                "follow: the poll stops here, and the next one goes on from the last cursor"
            )
        watermark = page.date_added_last or watermark
        next_token, next_added_after = page.next, added_after

"""Screening: the active flagged set of a mirror in memory, and the matches of an address,
canonical or as written, on every chain it may be on. Pure: the mirror loads it."""

from collections.abc import Iterable, Sequence
from functools import lru_cache, partial
from typing import NamedTuple

from feed.addresses import Address, parse_address
from feed.keys import screening_keys
from feed.taxii import format_timestamp, now_micros


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
        self._held_anywhere = _KeyFilter.over(self._index)
        # Payments' addresses recur: a text seen lately is answered by one lookup, not by its
        # readings' lookups in dicts of a million keys. Bound to the index, not to self, so
        # that a screener replaced by a newer one is freed at once, with no cycle to collect.
        self._held_by_text = lru_cache(maxsize=1 << 17)(
            partial(_held_for, self._index, frozenset(self._index), self._held_anywhere)
        )

    def __len__(self) -> int:
        return self._size

    def matches(self, address: Address, now: str | None = None) -> list[Match]:
        """Active indicators flagging a canonical address, still valid at `now`."""
        # The filter first, as for a text: it pays once the dicts outgrow the cache (a fifth
        # more lookups a second against a million keys; a fifth fewer against ten thousand,
        # nearly two million a second either way).
        key = address.key
        slot = hash(key)
        bits, mask = self._held_anywhere
        if not bits[slot >> 3 & mask] >> (slot & 7) & 1:
            return []
        keys = self._index.get(address.domain)
        held = None if keys is None else keys.get(key)
        if held is None:
            return []
        return _valid(held if isinstance(held, list) else (held,), now)

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
    # A loop calling no Python function, not a generator or a helper: nearly every text finds
    # nothing.
    for domain, key in keys or ():
        slot = hash(key)
        if not bits[slot >> 3 & mask] >> (slot & 7) & 1:
            continue
        held = index[domain].get(key)  # `domains` are the index's own
        if held is not None:
            found += held if isinstance(held, list) else (held,)
    return tuple(found)


def _valid(found: Sequence[Match], now: str | None) -> list[Match]:
    """The matches still valid at `now`. Callers pass only what matched, so that the clock is
    read only then: nearly every address matches nothing."""
    now = now or format_timestamp(now_micros())
    return [m for m in found if m.valid_until is None or m.valid_until > now]

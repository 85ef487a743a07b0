"""Screening: the active flagged set of a mirror in memory, and the matches of an address,
canonical or as written, on every chain it may be on. A `Screener` holds every match and is
pure; a `KeyScreener` holds the keys alone and reads a hit's matches from the mirror."""

import sys
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache, partial
from typing import Any, Generic, NamedTuple, TypeVar

from feed.addresses import Address, parse_address
from feed.keys import Key, legacy_aliases, screening_keys
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


_Index = TypeVar("_Index", bound=Mapping[str, Collection[str]])


class _HeldKeys(Generic[_Index]):
    """Per screening domain, the address keys held, and which of them the readings of a text
    hit: what both screeners share."""

    def __init__(self, index: _Index) -> None:
        self._index = index
        self._size = sum(map(len, index.values()))
        # Bitcoin Cash keys by their legacy texts, as a legacy reading is keyed
        aliases = {d: held for d, keys in index.items() if (held := legacy_aliases(d, keys))}
        self._held_anywhere = _KeyFilter.over([*index.values(), *aliases.values()])
        # Payments' addresses recur: a text seen lately is answered by one lookup, not by its
        # readings' lookups in dicts of a million keys. Bound to the index, not to self, so
        # that a screener replaced by a newer one is freed at once, with no cycle to collect.
        self._held_by_text = lru_cache(maxsize=1 << 17)(
            partial(_held_for, index, aliases, frozenset(index), self._held_anywhere)
        )

    def __len__(self) -> int:
        return self._size

    def _held_on(self, text: str, chain: str) -> tuple[Key, ...]:
        """The held key of `text` read as an address of `chain`, if held. Raises
        InvalidAddress for text that is no address of the chain."""
        address = parse_address(text, chain)
        keys = self._index.get(address.domain)
        return ((address.domain, address.key),) if keys and address.key in keys else ()


class Screener(_HeldKeys[dict[str, dict[str, Match | list[Match]]]]):
    """The active flagged set in memory: per screening domain, a dict from address key to its
    one match or, rarely, a list of several (no tuple key and no container per address: a
    million indicators in a few hundred MB)."""

    def __init__(self, rows: Iterable[tuple[str, str, Match]]) -> None:
        index: dict[str, dict[str, Match | list[Match]]] = {}
        for domain, key, match in rows:
            keys = index.setdefault(domain, {})
            held = keys.get(key)
            if held is None:
                keys[key] = match
            elif isinstance(held, list):
                held.append(match)
            else:
                keys[key] = [held, match]
        super().__init__(index)

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
        held = self._held_by_text(text) if chain is None else self._held_on(text, chain)
        if not held:
            return []
        found: list[Match] = []
        for domain, key in held:
            matches = self._index[domain][key]
            found += matches if isinstance(matches, list) else (matches,)
        return _valid(found, now)


class KeyScreener(_HeldKeys[Mapping[str, Collection[str]]]):
    """The active flagged set's keys alone, in memory; the matches of a key hit are read when
    it is hit. Screening many rows against a large mirror, nearly every row hits nothing:
    this loads in a fraction of a `Screener`'s time and memory."""

    def __init__(
        self,
        index: Mapping[str, Collection[str]],
        read: Callable[[Iterable[Key]], Iterable[tuple[str, str, Match]]],
    ) -> None:
        """`index`: per screening domain, the keys held; `read`: the matches held on some
        keys, as (domain, key, match)."""
        super().__init__(index)
        self._read = read

    def screen(self, text: str, chain: str | None = None, now: str | None = None) -> list[Match]:
        """As `Screener.screen`, with the matches of a hit as `read` finds them then."""
        held = self._held_by_text(text) if chain is None else self._held_on(text, chain)
        return _valid([match for _, _, match in self._read(held)], now) if held else []


class _KeyFilter(NamedTuple):
    """A bit per slot, set where the hash of a key held in any domain falls: a key whose bit
    is clear is held nowhere. A miss in a dict of a million keys reads three cache lines that
    are rarely in cache (slot, entry, key); this reads one line of 2 MB (for a million keys).
    With sixteen slots a key held, one key in sixteen that is held nowhere still goes on to
    the dicts."""

    bits: bytes
    mask: int  # of a byte's index

    @classmethod
    def over(cls, held: Sequence[Collection[str]]) -> "_KeyFilter":
        size = max(1 << 13, 1 << (16 * sum(map(len, held))).bit_length())
        bits, mask = bytearray(size >> 3), (size >> 3) - 1
        for keys in held:
            for key in keys:
                slot = hash(key)  # a str's hash is kept on it: asked again, it is not computed
                bits[slot >> 3 & mask] |= 1 << (slot & 7)
        return cls(bytes(bits), mask)


def _held_for(
    index: Mapping[str, Collection[str]],
    aliases: Mapping[str, Mapping[str, str]],
    domains: frozenset[str],
    held_anywhere: _KeyFilter,
    text: str,
) -> tuple[Key, ...]:
    """The keys held of the readings of `text`, a legacy Bitcoin Cash text's by its CashAddr
    key. Only chains the index holds keys on can match: `text` is not read as others."""
    readings = screening_keys(text, domains)
    if readings is None:
        parse_address(text)  # raises, saying why
    found: list[Key] = []
    bits, mask = held_anywhere
    # A loop calling no Python function, not a generator or a helper: nearly every text finds
    # nothing.
    for key, placed in readings or ():
        slot = hash(key)
        if not bits[slot >> 3 & mask] >> (slot & 7) & 1:
            continue
        for domain in placed:
            if key in index[domain]:  # `domains` are the index's own
                found.append((domain, key))
            elif domain in aliases and key in aliases[domain]:  # a legacy Bitcoin Cash text
                found.append((domain, aliases[domain][key]))
    return tuple(found)


def _valid(found: Sequence[Match], now: str | None) -> list[Match]:
    """The matches still valid at `now`. The clock is read only for a match that may have
    expired: nearly every address matches nothing, and many indicators never expire."""
    for match in found:  # a loop, not all() over a generator: a third of the time
        if match.valid_until is not None:
            break
    else:
        return list(found)
    now = now or format_timestamp(now_micros())
    return [m for m in found if m.valid_until is None or m.valid_until > now]


def matches_from_rows(
    rows: Iterable[Sequence[Any]], feeds: dict[str, str], names: dict[str, str]
) -> Iterator[tuple[str, str, Match]]:
    """(domain, key, match) of each of a mirror's rows, (domain, key, collection id, watchdog,
    category, confidence, indicator id, version, chain, address, valid_until), in a feed of
    `feeds` (its title by collection id; `names`: watchdogs' by identity). The strings that
    recur across indicators (collection, watchdog, category, chain, a publishing run's
    version...) are shared, and the key, where it is the address itself, is the address's own
    string: a million indicators fit in a few hundred MB."""
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

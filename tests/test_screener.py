"""The screeners: matches of an address, canonical or as written, valid at a moment; every
match of an address held; nothing but what is flagged found; and freed once dropped. A
`KeyScreener` answers as a `Screener` of the same rows does."""

import gc
import random
import weakref
from collections.abc import Callable

import pytest

from feed.addresses import parse_address
from feed.errors import InvalidAddress
from feed.keys import Key
from feed.sandbox import synthetic_address
from feed.screener import KeyScreener, Match, Screener
from tests.test_mirror import BTC

Rows = list[tuple[str, str, Match]]


def key_screener(rows: Rows) -> KeyScreener:
    """A key screener of `rows`, reading a hit's matches from them."""
    index: dict[str, set[str]] = {}
    held: dict[Key, Rows] = {}
    for domain, key, match in rows:
        index.setdefault(domain, set()).add(key)
        held.setdefault((domain, key), []).append((domain, key, match))
    return KeyScreener(index, lambda keys: [row for key in keys for row in held[key]])


SCREENERS = pytest.mark.parametrize("screener_of", [Screener, key_screener])
ScreenerOf = Callable[[Rows], Screener | KeyScreener]


def _flagging_btc(valid_until: str | None) -> tuple[Rows, Match]:
    address = parse_address(BTC, "BTC")
    match = Match("f", "c", None, None, "scam", 50, "indicator--x", "v", address.chain.caip2,
                  BTC, valid_until)  # fmt: skip
    return [(address.domain, address.key, match)], match


def test_screener_respects_valid_until_between_polls() -> None:
    rows, match = _flagging_btc("2026-01-01T00:00:00.000000Z")
    address = parse_address(BTC, "BTC")
    screener = Screener(rows)
    assert screener.matches(address, now="2025-12-31T23:59:59.999999Z") == [match]
    assert screener.matches(address, now="2026-01-01T00:00:00.000000Z") == []


@SCREENERS
def test_a_text_screened_again_is_judged_valid_again(screener_of: ScreenerOf) -> None:
    rows, match = _flagging_btc("2026-01-01T00:00:00.000000Z")
    screener = screener_of(rows)
    # A text screened before is answered from what it held, judged valid again each time.
    for chain in (None, "BTC"):
        assert screener.screen(BTC, chain, now="2025-12-31T23:59:59.999999Z") == [match]
        assert screener.screen(BTC, chain, now="2026-01-01T00:00:00.000000Z") == []
    for _ in range(2):
        with pytest.raises(InvalidAddress):
            screener.screen("1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggv")  # a bad checksum, twice
    with pytest.raises(InvalidAddress):
        screener.screen(BTC, "ETH")


@SCREENERS
def test_a_match_past_its_valid_until_is_dropped_beside_one_that_never_expires(
    screener_of: ScreenerOf,
) -> None:
    rows, expired = _flagging_btc("2000-01-01T00:00:00.000000Z")
    lasting = expired._replace(indicator_id="indicator--y", valid_until=None)
    screener = screener_of([*rows, (*rows[0][:2], lasting)])
    assert screener.screen(BTC) == [lasting]  # judged now, by the clock


@SCREENERS
def test_a_screener_is_freed_when_dropped_without_the_cycle_collector(
    screener_of: ScreenerOf,
) -> None:
    rows, match = _flagging_btc(None)
    screener = screener_of(rows)
    assert screener.screen(BTC) == [match]
    held = weakref.ref(screener)
    collecting = gc.isenabled()
    gc.disable()
    try:
        del screener
        assert held() is None
    finally:
        if collecting:
            gc.enable()


@SCREENERS
def test_screener_holds_every_match_of_an_address(screener_of: ScreenerOf) -> None:
    address = parse_address(BTC, "BTC")
    first, second = (
        Match(feed, "c", None, None, "scam", 50, f"indicator--{feed}", "v", address.chain.caip2,
              BTC, None)
        for feed in ("f", "g")
    )  # fmt: skip
    other = parse_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "ETH")
    third = first._replace(indicator_id="indicator--h", address=other.canonical)
    screener = screener_of(
        [(address.domain, address.key, first), (address.domain, address.key, second),
         (other.domain, other.key, third)]
    )  # fmt: skip
    assert len(screener) == 2
    assert screener.screen(BTC) == screener.screen(BTC, "BTC") == [first, second]
    assert screener.screen(other.canonical.upper().replace("0X", "0x")) == [third]
    # One EVM account is one key on every chain, whichever the reading names.
    assert screener.screen(other.canonical.lower(), "BSC") == [third]
    assert screener.screen("31nadacWrgPeAQxKRMabhn3fPhnhi3hjKa") == []
    assert screener.screen("31nadacWrgPeAQxKRMabhn3fPhnhi3hjKa", "BTC") == []
    if isinstance(screener, Screener):
        assert screener.matches(address) == [first, second]


@SCREENERS
def test_an_address_flagged_on_a_chain_that_shares_its_form_is_found_by_its_text(
    screener_of: ScreenerOf,
) -> None:
    # OFAC lists these under BSV and XVG; Bitcoin and Dogecoin read the same texts.
    rows: Rows = []
    for text, ticker in (("12sjrrhoFEsedNRhtgwvvRqjFTh8fZTDX9", "BSV"),
                         ("DFFJhnQNZf8rf67tYnesPu7MuGUpYtzv7Z", "XVG")):  # fmt: skip
        address = parse_address(text, ticker)
        match = Match("f", "c", None, None, "sanctions", 100, f"indicator--{ticker}", "v",
                      address.chain.caip2, text, None)  # fmt: skip
        rows.append((address.domain, address.key, match))
    screener = screener_of(rows)
    for (_, _, match), ticker, other in zip(rows, ("BSV", "XVG"), ("BTC", "DOGE"), strict=True):
        assert screener.screen(match.address) == [match]
        assert screener.screen(match.address, ticker) == [match]
        assert screener.screen(match.address, other) == []


@SCREENERS
def test_a_bitcoin_cash_address_is_found_by_its_legacy_text_and_its_cashaddr(
    screener_of: ScreenerOf,
) -> None:
    # The CashAddr specification's examples: a key hash and a script hash, legacy and CashAddr.
    pairs = (("1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu",
              "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a"),
             ("3CWFddi6m4ndiGyKqzYvsFYagqDLPVMTzC",
              "bitcoincash:ppm2qsznhks23z7629mms6s4cwef74vcwvn0h829pq"))  # fmt: skip
    rows: Rows = []
    for legacy, cashaddr in pairs:
        address = parse_address(cashaddr)
        match = Match("f", "c", None, None, "sanctions", 100, f"indicator--{legacy}", "v",
                      address.chain.caip2, cashaddr, None)  # fmt: skip
        rows.append((address.domain, address.key, match))
    screener = screener_of(rows)
    assert len(screener) == len(pairs)
    for (legacy, cashaddr), (_, _, match) in zip(pairs, rows, strict=True):
        for text in (legacy, cashaddr, cashaddr.upper(), cashaddr.partition(":")[2]):
            assert screener.screen(text) == [match], text
        assert screener.screen(legacy, "BCH") == [match]
        assert screener.screen(legacy, "BTC") == []


@SCREENERS
def test_a_screener_of_thousands_finds_each_canonical_or_by_its_text_and_nothing_else(
    screener_of: ScreenerOf,
) -> None:
    # Enough keys that the filter before the index spans many bytes and most of its bits.
    rng = random.Random(5)
    addresses = list(
        {(a.domain, a.key): a for a in (synthetic_address(rng) for _ in range(6000))}.values()
    )
    flagged, others = addresses[::2], addresses[1::2]
    matches = {
        a.key: Match("f", "c", None, None, "scam", 50, f"indicator--{i}", "v", a.chain.caip2,
                     a.canonical, None)
        for i, a in enumerate(flagged)
    }  # fmt: skip
    screener = screener_of([(a.domain, a.key, matches[a.key]) for a in flagged])
    assert len(screener) == len(flagged)
    assert [screener.screen(a.canonical) for a in flagged] == [[matches[a.key]] for a in flagged]
    assert [m for a in others for m in screener.screen(a.canonical)] == []
    if isinstance(screener, Screener):
        assert [screener.matches(a) for a in flagged] == [[matches[a.key]] for a in flagged]
        assert [m for a in others for m in screener.matches(a)] == []

"""The screener: matches of an address, canonical or as written, valid at a moment; every
match of an address held; nothing but what is flagged found; and freed once dropped."""

import gc
import random
import weakref

import pytest

from feed.addresses import parse_address
from feed.errors import InvalidAddress
from feed.sandbox import synthetic_address
from feed.screener import Match, Screener
from tests.test_mirror import BTC


def _screener_flagging_btc(valid_until: str | None) -> tuple[Screener, Match]:
    address = parse_address(BTC, "BTC")
    match = Match("f", "c", None, None, "scam", 50, "indicator--x", "v", address.chain.caip2,
                  BTC, valid_until)  # fmt: skip
    return Screener([(address.domain, address.key, match)]), match


def test_screener_respects_valid_until_between_polls() -> None:
    screener, match = _screener_flagging_btc("2026-01-01T00:00:00.000000Z")
    address = parse_address(BTC, "BTC")
    assert screener.matches(address, now="2025-12-31T23:59:59.999999Z") == [match]
    assert screener.matches(address, now="2026-01-01T00:00:00.000000Z") == []
    # A text screened before is answered from what it held, judged valid again each time.
    assert screener.screen(BTC, now="2025-12-31T23:59:59.999999Z") == [match]
    assert screener.screen(BTC, now="2026-01-01T00:00:00.000000Z") == []
    for _ in range(2):
        with pytest.raises(InvalidAddress):
            screener.screen("1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggv")  # a bad checksum, twice


def test_a_screener_is_freed_when_dropped_without_the_cycle_collector() -> None:
    screener, match = _screener_flagging_btc(None)
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


def test_screener_holds_every_match_of_an_address() -> None:
    address = parse_address(BTC, "BTC")
    first, second = (
        Match(feed, "c", None, None, "scam", 50, f"indicator--{feed}", "v", address.chain.caip2,
              BTC, None)
        for feed in ("f", "g")
    )  # fmt: skip
    other = parse_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "ETH")
    third = first._replace(indicator_id="indicator--h", address=other.canonical)
    screener = Screener(
        [(address.domain, address.key, first), (address.domain, address.key, second),
         (other.domain, other.key, third)]
    )  # fmt: skip
    assert len(screener) == 2
    assert screener.screen(BTC) == screener.matches(address) == [first, second]
    assert screener.screen(other.canonical.upper().replace("0X", "0x")) == [third]
    assert screener.screen("31nadacWrgPeAQxKRMabhn3fPhnhi3hjKa") == []


def test_a_screener_of_thousands_finds_each_canonical_or_by_its_text_and_nothing_else() -> None:
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
    screener = Screener((a.domain, a.key, matches[a.key]) for a in flagged)
    assert [screener.screen(a.canonical) for a in flagged] == [[matches[a.key]] for a in flagged]
    assert [m for a in others for m in screener.screen(a.canonical)] == []
    assert [screener.matches(a) for a in flagged] == [[matches[a.key]] for a in flagged]
    assert [m for a in others for m in screener.matches(a)] == []

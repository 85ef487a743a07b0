"""The chain registry: names, tickers, tokens on chains and CAIP-2 ids resolve to chains."""

import pytest

from feed.chains import CHAINS, resolve_chains
from feed.encodings import Problem
from feed.errors import InvalidAddress


def test_chains_by_ticker_name_caip2_and_token() -> None:
    assert [c.key for c in resolve_chains("USDT")] == ["tron", "ethereum", "bitcoin"]
    for name in ("USDT-TRC20", "usdt_trc20", "USDT@tron", "USDT on Tron", "USDT (Tron)", "TRX",
                 "Tron", "tron:0x2b6653dc"):  # fmt: skip
        assert [c.key for c in resolve_chains(name)] == ["tron"], name
    assert resolve_chains("XBT") == resolve_chains("bip122:000000000019d6689c085ae165831e93")
    with pytest.raises(InvalidAddress) as caught:
        resolve_chains("BTG")
    assert caught.value.problem == Problem.UNKNOWN_CHAIN
    assert "'BTG'" in caught.value.description


def test_every_chain_has_a_distinct_key_and_caip2() -> None:
    assert len({chain.key for chain in CHAINS}) == len(CHAINS)
    assert len({chain.caip2 for chain in CHAINS}) == len(CHAINS)

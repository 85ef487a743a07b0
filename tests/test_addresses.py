"""Addresses of every chain: known-good ones from the OFAC and ransomware data in tests/data
and from the chains' specifications, and damaged copies that must be refused for the right
reason."""

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feed.addresses import Address, detect, parse_address, readings_in, screening_readings
from feed.chains import CHAINS
from feed.encodings import Problem, base58check_decode, base58check_encode
from feed.errors import InvalidAddress

# Real data, dirt included: the OFAC SDN list of 2025-11-19 with the addresses derived from it,
# and ransomware payment addresses (each folder has its licence).
DATA = Path(__file__).resolve().parent / "data"
OFAC_ROWS = DATA / "ofac-sdn-2025-11-19" / "derived_addresses_with_party.csv"
RANSOMWARE = DATA / "ransomware-receipts-2024" / "addresses.csv"

# A Bitcoin hash160 re-encoded under other coins' version bytes gives addresses that only
# those coins' checksums and prefixes can tell apart.
HASH160 = base58check_decode("1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu", 21)[1:]

# One known-good address per chain: (chain, as written, canonical form, kind).
GOOD = [
    ("bitcoin", "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu", None, "p2pkh"),
    ("bitcoin", "31nadacWrgPeAQxKRMabhn3fPhnhi3hjKa", None, "p2sh"),
    ("bitcoin", "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
     "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "p2wpkh"),
    ("bitcoin", "bc1q4rzdtlt0uslyw86cp29sctl6ct29g9a95cuup7pn5md9ddj7xgmqpp5m73", None, "p2wsh"),
    ("bitcoin", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", None, "p2tr"),
    ("bitcoin-testnet", "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", None,
     "p2wsh"),
    ("bitcoin-testnet", base58check_encode(b"\x6f" + HASH160), None, "p2pkh"),
    ("bitcoin-regtest", base58check_encode(b"\xc4" + HASH160), None, "p2sh"),
    ("litecoin", "LNf2JDiuunBz7GMDKFYHN4rq5meXWxiwfb", None, "p2pkh"),
    ("litecoin", "M8yFL6SFC6TreATegTyuSYkDfDRbisdpT3", None, "p2sh"),
    ("dogecoin", base58check_encode(b"\x1e" + HASH160), None, "p2pkh"),
    ("verge", "DFFJhnQNZf8rf67tYnesPu7MuGUpYtzv7Z", None, "p2pkh"),
    ("verge", base58check_encode(b"\x21" + HASH160), None, "p2sh"),
    ("dash", "XnPFsRWTaSgiVauosEwQ6dEitGYXgwznz2", None, "p2pkh"),
    ("zcash", "t1MMXtBrSp1XG38Lx9cePcNUCJj5vdWfUWL", None, "p2pkh"),
    ("bitcoin-cash", "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a", None, "p2pkh"),
    ("bitcoin-cash", "qpf2cphc5dkuclkqur7lhj2yuqq9pk3hmukle77vhq",
     "bitcoincash:qpf2cphc5dkuclkqur7lhj2yuqq9pk3hmukle77vhq", "p2pkh"),
    ("bitcoin-cash", "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu",
     "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a", "p2pkh"),
    ("bitcoin-sv", "12sjrrhoFEsedNRhtgwvvRqjFTh8fZTDX9", None, "p2pkh"),
    ("ethereum", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
     "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "account"),
    ("ethereum-sepolia", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", None, "account"),
    ("tron", "TAYhjpL8pPs8T84FSM329nffQpc6jD8GBM", None, "account"),
    ("monero", "49HqitRzdnhYjgTEAhgGpCfsjdTeMbUTU6cyR4JV1R7k2Eej9rGT8JpFiYDa4tZM6RZiFrHmMzgSrhHEqpD"
     "YKBe5B2ufNsL", None, "standard"),
    ("monero", "84AwzjeFWXNEuhj8LWinXo93AqYr6wS8ZcnaBCoGhrL7EtvBMBovdhiUSV9xLhjrPA8t64hYSaMc8bHtWXo"
     "V9129EHUjU62", None, "subaddress"),
    ("solana", "42RLPACwZPx3vYYmxSueqsogfynBDqXK298EDsNoyoHi", None, "account"),
    ("xrp", "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh", None, "account"),
    ("bnb-beacon", "bnb136ns6lfw4zs5hg4n85vdthaad7hq5m4gtkgf23", None, "account"),
]  # fmt: skip


@pytest.mark.parametrize(("chain", "text", "canonical", "kind"), GOOD)
def test_known_good_addresses(chain: str, text: str, canonical: str | None, kind: str) -> None:
    address = parse_address(text, chain)
    assert address.chain.key == chain
    assert address.canonical == (canonical or text)
    assert address.kind == kind
    assert parse_address(address.canonical, address.chain.caip2) == address


def _damaged(text: str) -> str:
    """`text` with one character in its middle replaced by another of the same alphabet."""
    middle = len(text) // 2
    replacement = next(c for c in "23456789qpzry" if c != text[middle].lower())
    return text[:middle] + replacement + text[middle + 1 :]


CHECKSUMMED = [case for case in GOOD if case[0] != "solana" and not case[1].startswith("0x")]


@pytest.mark.parametrize(("chain", "text", "canonical", "kind"), CHECKSUMMED)
def test_one_changed_character_fails_the_checksum(
    chain: str, text: str, canonical: str | None, kind: str
) -> None:
    with pytest.raises(InvalidAddress) as caught:
        parse_address(_damaged(canonical or text), chain)
    assert caught.value.problem == Problem.BAD_CHECKSUM, caught.value.description


@pytest.mark.parametrize(("chain", "text", "canonical", "kind"), GOOD)
def test_truncated_addresses_are_refused(
    chain: str, text: str, canonical: str | None, kind: str
) -> None:
    canonical = canonical or text
    # Base58check strings of one payload size vary in length: a missing character shows in
    # the decoded size or only in the checksum. Every other format has a fixed length.
    variable = chain == "xrp" or (kind in ("p2pkh", "p2sh") and ":" not in canonical)
    with pytest.raises(InvalidAddress) as caught:
        parse_address(canonical[:-1], chain)
    expected = {Problem.BAD_LENGTH, Problem.BAD_CHECKSUM} if variable else {Problem.BAD_LENGTH}
    assert caught.value.problem in expected, caught.value.description


@pytest.mark.parametrize(
    ("text", "chain", "said"),
    [
        ("T", "tron", "1 character; Tron addresses have 34"),
        ("4", "monero", "1 character; 95 or 106 expected"),
        ("bitcoincash:q", "bitcoin-cash", "1 character after the prefix; 42 expected"),
        ("1", "bitcoin", "decodes to 1 byte; 25 expected"),
        ("1B", "bitcoin", "decodes to 2 bytes; 25 expected"),
    ],
)
def test_a_length_is_counted_in_words_that_agree(text: str, chain: str, said: str) -> None:
    with pytest.raises(InvalidAddress) as caught:
        parse_address(text, chain)
    assert caught.value.description.endswith(said)


def test_swapped_case_is_refused() -> None:
    cases = {
        "bitcoin": ("1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu".swapcase(), Problem.BAD_CHARACTER),
        "tron": ("TAYhjpL8pPs8T84FSM329nffQpc6jD8GBm", Problem.BAD_CHECKSUM),
        "ethereum": ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", Problem.BAD_CASE),
        "bitcoin-cash": ("qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdX6a", Problem.BAD_CASE),
    }  # fmt: skip
    for chain, (text, problem) in cases.items():
        with pytest.raises(InvalidAddress) as caught:
            parse_address(text, chain)
        assert caught.value.problem == problem, (chain, caught.value.description)
    with pytest.raises(InvalidAddress) as caught:
        parse_address("bc1qW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "BTC")
    assert caught.value.problem == Problem.BAD_CASE


def test_wrong_network_is_named() -> None:
    testnet = "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7"
    with pytest.raises(InvalidAddress) as caught:
        parse_address(testnet, "bitcoin")
    assert caught.value.problem == Problem.WRONG_NETWORK
    assert "Bitcoin testnet address, not Bitcoin" in caught.value.description
    with pytest.raises(InvalidAddress) as caught:
        parse_address("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "bitcoin-regtest")
    assert caught.value.problem == Problem.WRONG_NETWORK


def test_an_address_of_another_chain_says_what_it_is() -> None:
    with pytest.raises(InvalidAddress) as caught:
        parse_address("TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq", "XBT")
    assert caught.value.problem == Problem.UNKNOWN_PREFIX
    assert "reads as a Tron address" in caught.value.description
    with pytest.raises(InvalidAddress) as caught:
        parse_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "bitcoin")
    assert caught.value.description.endswith("; it reads as an Ethereum address")


@pytest.mark.parametrize("chain", [None, "bitcoin", "ethereum"])
def test_a_text_longer_than_any_address_is_clipped_in_its_error(chain: str | None) -> None:
    text = "1" + "A" * 1_000_000
    with pytest.raises(InvalidAddress) as caught:
        parse_address(text, chain)
    assert len(caught.value.description) < 300
    assert caught.value.description.startswith("1AAA")
    assert "..." in caught.value.description


def test_a_text_as_long_as_an_address_may_be_is_shown_whole() -> None:
    monero = next(text for chain, text, _, _ in GOOD if chain == "monero")
    for text in (monero[:-1] + "2", "4" + "A" * 129):
        with pytest.raises(InvalidAddress) as caught:
            parse_address(text, "monero")
        assert caught.value.description.startswith(f"{text}: ")


def test_xrp_destination_tag_is_kept_apart() -> None:
    address = parse_address("rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh?dt=12345", "XRP")
    assert (address.canonical, address.tag) == ("rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh", 12345)
    with pytest.raises(InvalidAddress) as caught:
        parse_address("XVLhHMPHU98es4dbozjVtdWzVrDjtV18pX8yuPT7y4xaEHi", "XRP")
    assert caught.value.problem == Problem.UNSUPPORTED


def test_evm_key_ignores_case_and_canonical_shows_eip55() -> None:
    lower = parse_address("0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359", "eip155:1")
    upper = parse_address("0xFB6916095CA1DF60BB79CE92CE3EA74C37C5D359", "ETH")
    assert lower == upper
    assert lower.key == "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359"
    assert parse_address(lower.canonical, "eip155:100").chain.caip2 == "eip155:100"


def test_the_address_picks_the_chain_among_a_tickers_chains() -> None:
    assert parse_address("TA3941uFAvmVibSkQ6fMJXxmaSNovX86mz", "USDT").chain.key == "tron"
    assert parse_address("0x04DBA1194ee10112fE6C3207C0687DEf0e78baCf", "USDT").chain.key == (
        "ethereum"
    )


def test_detection_without_a_chain() -> None:
    assert parse_address("TA3941uFAvmVibSkQ6fMJXxmaSNovX86mz").chain.key == "tron"
    assert parse_address("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4").chain.key == "bitcoin"
    for ambiguous in (
        "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu",
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
        "DFFJhnQNZf8rf67tYnesPu7MuGUpYtzv7Z",  # Dogecoin and Verge share version bytes
    ):
        with pytest.raises(InvalidAddress) as caught:
            parse_address(ambiguous)
        assert caught.value.problem == Problem.AMBIGUOUS
        assert caught.value.description.endswith("; name its chain")
    with pytest.raises(InvalidAddress) as caught:
        parse_address("LNf2JDiuunBz7GMDKFYHN4rq5meXWxiwfc")
    assert caught.value.problem == Problem.BAD_CHECKSUM
    assert "Litecoin" in caught.value.description


def test_ofac_addresses_parse_except_the_known_dirt() -> None:
    readings: set[tuple[str, str]] = set()
    refused: dict[str, Problem] = {}
    with OFAC_ROWS.open() as rows:
        for row in csv.DictReader(rows):
            try:
                address = parse_address(row["address"], row["asset"])
            except InvalidAddress as error:
                refused[row["address"]] = Problem(error.problem)
            else:
                readings.add((address.chain.caip2, address.key))
    assert refused == {
        "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq": Problem.UNKNOWN_PREFIX,  # a Tron address under XBT
        "5be5543ff73456ab9f2d207887e2af87322c651ea1a873c5b25b7ffae456c320": Problem.UNKNOWN_PREFIX,
        "GPwg61XoHqQPNmAucFACuQ5H9sGCDv9TpS": Problem.UNKNOWN_CHAIN,  # Bitcoin Gold
    }
    assert len(readings) == 745


def test_ransomware_addresses_are_all_valid_bitcoin() -> None:
    with RANSOMWARE.open() as rows:
        addresses: list[Address] = [
            parse_address(row["address"], "BTC") for row in csv.DictReader(rows)
        ]
    assert len(addresses) == 1013


ALPHABETS = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0OIl:x?=_ -"
TICKERS = [None, "BTC", "ETH", "USDT", "BCH", "XMR", "XRP", "TRX", "SOL", "ZEC", "bnb", "nope"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABETS, max_size=110), st.sampled_from(TICKERS))
def test_any_text_is_an_address_or_a_clear_refusal(text: str, chain: str | None) -> None:
    refusal: InvalidAddress | None = None
    try:
        address = parse_address(text, chain)
    except InvalidAddress as error:
        refusal = error
    if refusal is not None:
        assert Problem(refusal.problem)
        assert refusal.description
        return
    assert parse_address(address.canonical, address.chain.caip2) == address


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=20, max_size=20), st.sampled_from([b"\x00", b"\x05"]), st.data())
def test_every_single_character_change_of_a_bitcoin_address_is_caught(
    hash160: bytes, version: bytes, data: st.DataObject
) -> None:
    address = base58check_encode(version + hash160)
    assert parse_address(address, "BTC").canonical == address
    position = data.draw(st.integers(min_value=1, max_value=len(address) - 1))
    replacement = data.draw(
        st.sampled_from(ALPHABETS[:58]).filter(lambda c: c != address[position])
    )
    damaged = address[:position] + replacement + address[position + 1 :]
    with pytest.raises(InvalidAddress):
        parse_address(damaged, "BTC")


def _first_per_domain(readings: list[Address]) -> list[Address]:
    first: dict[str, Address] = {}
    for address in readings:
        first.setdefault(address.domain, address)
    return list(first.values())


def test_screening_reads_a_text_as_detect_does_once_per_domain() -> None:
    with OFAC_ROWS.open() as rows:
        texts = {row["address"] for row in csv.DictReader(rows)}
    texts |= {written for _, written, _, _ in GOOD} | {"0x" + "ab" * 20, "0x" + "AB" * 20}
    for text in sorted(texts):
        assert screening_readings(text) == _first_per_domain(detect(text)), text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABETS, max_size=110))
def test_screening_any_text_agrees_with_detect(text: str) -> None:
    assert screening_readings(text) == _first_per_domain(detect(text))


DOMAINS = sorted({chain.domain for chain in CHAINS})


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.sampled_from([written for _, written, _, _ in GOOD]), st.text(ALPHABETS)),
    st.frozensets(st.sampled_from(DOMAINS)),
)
def test_readings_in_some_domains_are_those_of_all_domains_there(
    text: str, domains: frozenset[str]
) -> None:
    everywhere = screening_readings(text)
    expected = tuple(a for a in everywhere if a.domain in domains) if everywhere else None
    assert readings_in(text, domains) == expected


@pytest.mark.parametrize(
    ("text", "chain", "said"),
    [
        ("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg", "ETH", "'g' at position 42 is not hex"),
        ("bc1q w508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "BTC", "' ' at position 5 is not bech32"),
        ("qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdxib", "BCH",
         "'i' at position 41 is not CashAddr base32"),
        ("bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdxib", "BCH",
         "'i' at position 53 is not CashAddr base32"),
    ],
)  # fmt: skip
def test_a_character_out_of_place_is_named_by_its_position_as_written(
    text: str, chain: str, said: str
) -> None:
    with pytest.raises(InvalidAddress) as caught:
        parse_address(text, chain)
    assert caught.value.problem == Problem.BAD_CHARACTER
    assert f"character {said}" in caught.value.description

"""Screening keys against the reference, `readings_in`: every family's addresses, real data,
and texts that nearly are addresses (any version bytes under a good checksum, damaged copies,
EVM hex in any case, segwit under every chain's prefix), in any set of screening domains."""

import csv

import base58
import bech32
from hypothesis import given, settings
from hypothesis import strategies as st

from feed.addresses import readings_in
from feed.chains import CHAINS, Chain, Family
from feed.encodings import BITCOIN_ALPHABET, RIPPLE_ALPHABET, base58check_encode, eip55
from feed.keys import (
    Placed,
    _after_segwit,
    _by_bytes,
    _plan,
    _read_by_steps,
    _solana_lengths,
    _step,
    screening_keys,
)
from tests.test_addresses import ALPHABETS, GOOD, OFAC_ROWS, RANSOMWARE

DOMAINS = frozenset(chain.domain for chain in CHAINS)
HRPS = sorted({chain.hrp for chain in CHAINS if chain.hrp})
# Every version byte, and the two-byte versions some chain has with their neighbours.
VERSIONS = [bytes([byte]) for byte in range(256)] + sorted(
    {
        bytes([version[0], (version[1] + step) % 256])
        for chain in CHAINS
        for version in chain.versions
        if len(version) == 2
        for step in (-1, 0, 1)
    }
)
WRITTEN = [written for _, written, _, _ in GOOD]


def _expected(text: str, domains: frozenset[str]) -> tuple[tuple[str, str], ...] | None:
    """(domain, key) of each reading, a legacy Bitcoin Cash address's key its own text."""
    readings = readings_in(text, domains)
    if readings is None:
        return None
    stripped = text.strip()
    legacy = stripped.rpartition(":")[2][:1] not in "qpQP"  # as the decoder tells CashAddr
    return tuple(
        (a.domain, stripped if legacy and a.chain.family is Family.BITCOIN_CASH else a.key)
        for a in readings
    )


def _flat(readings: tuple[Placed, ...] | None) -> tuple[tuple[str, str], ...] | None:
    """(domain, key) of each placed reading, in order."""
    if readings is None:
        return None
    return tuple((domain, key) for key, placed in readings for domain in placed)


def _agrees(text: str, domains: frozenset[str] = DOMAINS) -> None:
    expected = _expected(text, domains)
    assert _flat(screening_keys(text, domains)) == expected, text
    # The steps alone too: they read whatever the look-up of base58 bytes leaves to them.
    stripped = text.strip()
    assert _flat(_read_by_steps(stripped, _plan(stripped[:1], domains).steps)) == expected, text


def test_every_family_and_the_real_data_read_as_the_reference_reads_them() -> None:
    texts = set(WRITTEN)
    with OFAC_ROWS.open() as rows:
        texts |= {row["address"] for row in csv.DictReader(rows)}
    with RANSOMWARE.open() as rows:
        texts |= {row["address"] for row in csv.DictReader(rows)}
    assert len(texts) > 1000
    for text in sorted(texts):
        _agrees(text)
        _agrees(f"  {text}\n")


def test_each_case_of_evm_hex_keys_as_the_reference() -> None:
    digits = "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
    checksummed = eip55(digits)
    for text in (checksummed, "0x" + digits, "0x" + digits.upper(), checksummed.swapcase()):
        _agrees(text)
    wrong_case = checksummed[:3] + checksummed[3].swapcase() + checksummed[4:]
    assert screening_keys(wrong_case, DOMAINS) is None
    assert screening_keys("0X" + digits, DOMAINS) is None


def test_base58_bytes_are_looked_up_only_where_no_chain_reads_the_text_otherwise() -> None:
    # Solana keys start with any character: a lookup of base58 bytes alone would miss the
    # reading of a chain that reads the same text as EVM hex, CashAddr or bech32.
    for first, version in (("1", b"\x00"), ("3", b"\x05"), ("m", b"\x6f")):  # Bitcoin Cash's too
        assert (25, version) in (_plan(first, DOMAINS).by_bytes or {})
    for first in ("0", "q", "b"):
        assert _plan(first, DOMAINS).by_bytes is None
    solana = frozenset(chain.domain for chain in CHAINS if chain.family is Family.SOLANA)
    assert _plan("q", solana).by_bytes  # no Bitcoin Cash held: its CashAddr need not be read
    keys = [text for chain, text, _, _ in GOOD if chain == "solana"]
    for text in (*keys, "1" * 32, "1111111111111111111111111111111S"):  # by their bytes alone
        assert _plan(text[0], solana).by_bytes
        _agrees(text, solana)


@given(st.integers(0, 32), st.binary(min_size=32, max_size=32))
def test_a_solana_key_is_never_skipped_for_its_length(zeros: int, key: bytes) -> None:
    text = base58.b58encode(bytes(zeros) + key[zeros:]).decode()
    assert len(text) in _solana_lengths(text[0])


def test_a_segwit_text_is_read_only_by_chains_that_may_start_with_its_prefix() -> None:
    (steps,) = (s for prefix, s in _plan("b", DOMAINS).segwit.items() if prefix == "bc1")
    assert [step.chain.key for step in steps] == ["bitcoin", "solana"]  # not regtest nor BNB
    assert all(step.prefix_shown for step in steps)
    _agrees("BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ")
    # A chain whose prefix is longer than the segwit prefix may still read such a text.
    longer = Chain("longer", "Longer", "x:longer", Family.BECH32, "x", ("bc1x",))
    (kept,) = _after_segwit((_step(longer, (longer.domain,), "b"),), "bc1")
    assert kept.chain is longer
    assert not kept.prefix_shown


def test_a_lookup_places_a_legacy_bitcoin_cash_reading_by_the_text_in_step_order() -> None:
    bitcoin, cash = (
        _step(chain, (chain.domain,), "1")
        for chain in CHAINS
        if chain.key in ("bitcoin", "bitcoin-cash")
    )
    for steps in ((bitcoin, cash), (cash, bitcoin)):
        read = (_by_bytes(steps, "1") or {})[25, b"\x00"]
        assert read == (steps[0].placed[0], steps[1].placed[0])


def test_an_xrp_destination_tag_is_read_by_the_reference() -> None:
    _agrees("rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh?dt=42")
    assert screening_keys("rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh?dt=x", DOMAINS) is None


def test_every_version_under_a_good_checksum_keys_as_the_reference() -> None:
    # Hashes from low to high spell every leading character a version byte can start with.
    bodies = [bytes([top]) + bytes(range(19)) for top in range(0, 256, 16)]
    for version in VERSIONS:
        for body in (*bodies, b"\xff" * 20, bytes(19), bytes(21)):
            for alphabet in (BITCOIN_ALPHABET, RIPPLE_ALPHABET):
                _agrees(base58check_encode(version + body, alphabet))


domain_sets = st.one_of(st.just(DOMAINS), st.frozensets(st.sampled_from(sorted(DOMAINS))))


@st.composite
def base58check_texts(draw: st.DrawFn) -> str:
    """Any version bytes and payload size under a good checksum, in either alphabet."""
    version = draw(st.one_of(st.sampled_from(VERSIONS), st.binary(min_size=1, max_size=2)))
    body = draw(st.one_of(st.binary(min_size=20, max_size=20), st.binary(max_size=33)))
    alphabet = draw(st.sampled_from([BITCOIN_ALPHABET, RIPPLE_ALPHABET]))
    return base58check_encode(version + body, alphabet)


@st.composite
def segwit_texts(draw: st.DrawFn) -> str:
    hrp = draw(st.sampled_from(HRPS)) + draw(st.sampled_from(["", "1q", "x"]))  # "tb1q1..."
    version = draw(st.integers(0, 16))
    program = draw(st.sampled_from([b"\x01" * 20, b"\x02" * 32, b"\x03" * 2, b"\x04" * 40]))
    text = bech32.encode(hrp, version, program)
    return text if text is not None else hrp + "1" + "q" * 39


@st.composite
def evm_texts(draw: st.DrawFn) -> str:
    digits = draw(st.text("0123456789abcdef", min_size=40, max_size=40))
    case = draw(st.sampled_from(["lower", "upper", "eip55", "any"]))
    if case == "eip55":
        return eip55(digits)
    if case == "any":
        return "0x" + "".join(
            c.upper() if draw(st.booleans()) else c for c in digits
        )  # fmt: skip
    return "0x" + (digits.upper() if case == "upper" else digits)


@st.composite
def damaged(draw: st.DrawFn, texts: st.SearchStrategy[str]) -> str:
    """A text with one character replaced (by one of an address alphabet or by any, a lone
    surrogate included), or cut short, or with its case swapped."""
    text = draw(texts)
    how = draw(st.sampled_from(["replace", "foreign", "cut", "swapcase", "none"]))
    if how in ("replace", "foreign") and text:
        position = draw(st.integers(0, len(text) - 1))
        foreign = st.one_of(st.characters(), st.sampled_from(["\ud800", "\udfff", "é", "\x00"]))
        other = draw(st.sampled_from(ALPHABETS) if how == "replace" else foreign)
        return text[:position] + other + text[position + 1 :]
    if how == "cut":
        return text[: draw(st.integers(0, len(text)))]
    return text.swapcase() if how == "swapcase" else text


near_addresses = damaged(
    st.one_of(
        st.sampled_from(WRITTEN),
        base58check_texts(),
        segwit_texts(),
        evm_texts(),
        st.text(ALPHABETS, max_size=110),
    )
)


@settings(max_examples=2000, deadline=None)
@given(near_addresses, domain_sets)
def test_any_text_keys_as_the_reference_reads_it(text: str, domains: frozenset[str]) -> None:
    _agrees(text, domains)

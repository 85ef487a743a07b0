"""Addresses: whether a text is a valid address on a chain, and its canonical form. Pure.

Canonical forms (DESIGN.md): bech32, bech32m and CashAddr in lower case, CashAddr with its
prefix (legacy Bitcoin Cash addresses become CashAddr); EVM addresses shown EIP-55 and compared
in lower case (`Address.key`); base58 is never case-folded. The dedup key of a flagged address
is (chain, key), never (ticker, address)."""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from feed.base32 import bech32_plain_decode, cashaddr_decode, cashaddr_encode, segwit_decode
from feed.chains import CHAINS, Chain, Family, resolve_chains
from feed.encodings import (
    RIPPLE_ALPHABET,
    EncodingError,
    Problem,
    base58_decode,
    base58check_decode,
    check_alphabet,
    eip55,
    monero_base58_decode,
    monero_checked,
)
from feed.errors import InvalidAddress, clipped, counted, with_article

HEX_DIGITS = "0123456789abcdefABCDEF"
SEGWIT_KINDS = {(0, 20): "p2wpkh", (0, 32): "p2wsh", (1, 32): "p2tr"}
CASHADDR_KINDS = {0: "p2pkh", 8: "p2sh"}
_CASHADDR_VERSIONS = {kind: version for version, kind in CASHADDR_KINDS.items()}
MONERO_LENGTHS = (95, 106)  # standard and subaddresses, integrated addresses
# What a message repeats of a text: whole up to the longest address, clipped beyond.
LONGEST_SHOWN = 130
# What any address of a known chain looks like, as the flagged-address extension's schema
# says (an XRP address's destination tag aside): a text of this shape that no chain reads is
# a damaged address or one of another chain, not a word.
ADDRESS_SHAPE = re.compile(r"[0-9A-Za-z:]{26,128}")


@dataclass(frozen=True, slots=True)
class Address:
    chain: Chain
    canonical: str
    kind: str
    # XRP destination tag: it says which customer of an exchange, not which account.
    tag: int | None = None

    # The form compared when screening: EVM hex without case, everything else as is.
    key: str = field(init=False, repr=False, compare=False)
    # Where the same key means the same holder (Chain.domain).
    domain: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:  # derived once: screening asks both of every row
        evm = self.chain.family is Family.EVM
        object.__setattr__(self, "key", self.canonical.lower() if evm else self.canonical)
        object.__setattr__(self, "domain", self.chain.domain)


def _decode_utxo(chain: Chain, text: str) -> Address:
    if chain.hrp and text.lower().startswith(chain.hrp + "1"):
        hrp, version, program = segwit_decode(text)
        if hrp != chain.hrp:
            raise EncodingError(Problem.UNKNOWN_PREFIX, f"prefix {hrp!r} is not {chain.hrp!r}")
        kind = SEGWIT_KINDS.get((version, len(program)), f"witness-v{version}")
        return Address(chain, text.lower(), kind)
    return Address(chain, text, _base58_kind(chain, text))


def _base58_kind(chain: Chain, text: str) -> str:
    width = chain.version_width
    payload = base58check_decode(text, width + 20)
    kind = chain.versions.get(payload[:width])
    if kind is None:
        raise EncodingError(
            Problem.UNKNOWN_PREFIX, f"version byte 0x{payload[:width].hex()} is not {chain.name}"
        )
    return kind


def _decode_bitcoin_cash(chain: Chain, text: str) -> Address:
    prefix, _, rest = text.rpartition(":")
    if prefix and prefix.lower() != chain.hrp:
        raise EncodingError(Problem.UNKNOWN_PREFIX, f"prefix {prefix!r} is not {chain.hrp!r}")
    if rest[:1] in "qpQP":
        version, _ = cashaddr_decode(chain.hrp, rest, start=len(text) - len(rest) + 1)
        if version not in CASHADDR_KINDS:
            raise EncodingError(Problem.UNSUPPORTED, f"CashAddr type {version >> 3} unknown")
        return Address(chain, f"{chain.hrp}:{rest.lower()}", CASHADDR_KINDS[version])
    kind = _base58_kind(chain, rest)
    return Address(chain, legacy_cashaddr(chain, base58check_decode(rest, 21)), kind)


def legacy_cashaddr(chain: Chain, payload: bytes) -> str:
    """The CashAddr form of the payload (version byte and hash) of a legacy address."""
    version = _CASHADDR_VERSIONS[chain.versions[payload[:1]]]
    return cashaddr_encode(chain.hrp, version, payload[1:])


def _decode_evm(chain: Chain, text: str) -> Address:
    return Address(chain, _evm_checksummed(text), "account")


@lru_cache(maxsize=1024)  # the same for every EVM chain a text is read as
def _evm_checksummed(text: str) -> str:
    if not text.startswith("0x"):
        raise EncodingError(Problem.UNKNOWN_PREFIX, "EVM addresses start with 0x")
    digits = text[2:]
    if len(digits) != 40:
        raise EncodingError(Problem.BAD_LENGTH, f"{len(digits)} hex digits; 40 expected")
    check_alphabet(digits, HEX_DIGITS, "hex", start=3)  # after the 0x
    checksummed = eip55(digits.lower())
    if digits not in (digits.lower(), digits.upper()) and text != checksummed:
        raise EncodingError(Problem.BAD_CASE, "mixed case fails the EIP-55 checksum")
    return checksummed


def _decode_tron(chain: Chain, text: str) -> Address:
    if len(text) != 34:
        raise EncodingError(
            Problem.BAD_LENGTH, f"{counted(len(text), 'character')}; Tron addresses have 34"
        )
    if base58check_decode(text, 21)[0] != 0x41:
        raise EncodingError(Problem.UNKNOWN_PREFIX, "Tron addresses start with version 0x41")
    return Address(chain, text, "account")


def _decode_monero(chain: Chain, text: str) -> Address:
    if len(text) not in MONERO_LENGTHS:
        raise EncodingError(
            Problem.BAD_LENGTH, f"{counted(len(text), 'character')}; 95 or 106 expected"
        )
    data = monero_base58_decode(text)
    kind = chain.versions.get(data[:1])
    if kind is None:
        raise EncodingError(Problem.UNKNOWN_PREFIX, f"network byte 0x{data[:1].hex()} unknown")
    expected = 77 if kind == "integrated" else 69
    if len(data) != expected:
        raise EncodingError(
            Problem.BAD_LENGTH, f"decodes to {counted(len(data), 'byte')}; {expected} expected"
        )
    monero_checked(data)
    return Address(chain, text, kind)


def _decode_solana(chain: Chain, text: str) -> Address:
    base58_decode(text, 32)  # Solana keys carry no checksum: only alphabet and length are checked
    return Address(chain, text, "account")


def _decode_xrpl(chain: Chain, text: str) -> Address:
    address, _, tag = text.partition("?dt=")
    if address.startswith(("X", "T")) and len(address) == 47:
        raise EncodingError(
            Problem.UNSUPPORTED, "X-addresses are not accepted: give the classic r-address and "
            "the destination tag (r...?dt=TAG)",
        )  # fmt: skip
    if base58check_decode(address, 21, RIPPLE_ALPHABET)[0] != 0:
        raise EncodingError(Problem.UNKNOWN_PREFIX, "XRP classic addresses start with r")
    if tag and not (tag.isdigit() and int(tag) < 2**32):
        raise EncodingError(Problem.BAD_CHARACTER, f"destination tag {tag!r} is not 0 to 2^32-1")
    return Address(chain, address, "account", int(tag) if tag else None)


def _decode_bech32(chain: Chain, text: str) -> Address:
    if len(text) != len(chain.hrp) + 39:  # separator, 32 characters of hash, 6 of checksum
        raise EncodingError(
            Problem.BAD_LENGTH, f"{counted(len(text), 'character')}; {len(chain.hrp) + 39} expected"
        )
    hrp, payload = bech32_plain_decode(text)
    if hrp != chain.hrp:
        raise EncodingError(Problem.UNKNOWN_PREFIX, f"prefix {hrp!r} is not {chain.hrp!r}")
    if len(payload) != 20:
        raise EncodingError(Problem.BAD_LENGTH, f"{counted(len(payload), 'byte')}; 20 expected")
    return Address(chain, text.lower(), "account")


DECODERS: dict[Family, Callable[[Chain, str], Address]] = {
    Family.UTXO: _decode_utxo,
    Family.BITCOIN_CASH: _decode_bitcoin_cash,
    Family.EVM: _decode_evm,
    Family.TRON: _decode_tron,
    Family.MONERO: _decode_monero,
    Family.SOLANA: _decode_solana,
    Family.XRPL: _decode_xrpl,
    Family.BECH32: _decode_bech32,
}


def has_prefix(chain: Chain, text: str) -> bool:
    return not chain.prefixes or text.startswith(chain.prefixes) or (
        bool(chain.caseless_prefixes) and text.lower().startswith(chain.caseless_prefixes)
    )  # fmt: skip


def _decode(chain: Chain, text: str) -> Address:
    if not has_prefix(chain, text):
        raise EncodingError(
            Problem.UNKNOWN_PREFIX,
            f"{chain.name} addresses start with {' or '.join(chain.prefixes)}",
        )
    return DECODERS[chain.family](chain, text)


def looks_like_address(text: str) -> bool:
    """Whether `text` is an address, or shaped like one and holding a digit (as no header
    or other word is): a damaged address reads as none, but is still no column's name."""
    return readings_in(text) is not None or (
        ADDRESS_SHAPE.fullmatch(text) is not None and any(c.isdigit() for c in text)
    )


def reading(chain: Chain, text: str) -> Address | None:
    """`text` as an address of `chain`, which its prefix allows, or None."""
    try:
        return DECODERS[chain.family](chain, text)
    except EncodingError:
        return None


def _first_characters(chain: Chain) -> set[str]:
    """What an address of `chain` may start with (prefixes ending in 1 or : in either case)."""
    return {prefix[0] for prefix in chain.prefixes} | {
        variant for prefix in chain.prefixes if prefix[-1] in "1:" for variant in
        (prefix[0].lower(), prefix[0].upper())
    }  # fmt: skip


# The chains a text may be read as, by its first character, in CHAINS order: most chains are
# ruled out without decoding anything.
_ANY = tuple(chain for chain in CHAINS if not chain.prefixes)
_CANDIDATES = {
    first: tuple(c for c in CHAINS if not c.prefixes or first in _first_characters(c))
    for first in set().union(*(_first_characters(chain) for chain in CHAINS))
}


def _possible_chains(text: str) -> Iterator[Chain]:
    """The chains whose prefixes `text` has, in CHAINS order."""
    return (chain for chain in _CANDIDATES.get(text[:1], _ANY) if has_prefix(chain, text))


def detect(text: str) -> list[Address]:
    """Every reading of `text` as an address of a known chain."""
    text = text.strip()
    readings = (reading(chain, text) for chain in _possible_chains(text))
    return [address for address in readings if address is not None]


def _decoding(chain: Chain) -> tuple[object, ...]:
    """What decoding a text as `chain` depends on: chains alike in it (the Tron, Solana and
    EVM networks) read a text alike, as the same address on each."""
    return (chain.family, chain.prefixes, tuple(chain.versions.items()), chain.hrp)


def _alike(candidates: tuple[Chain, ...]) -> tuple[tuple[Chain, tuple[Chain, ...]], ...]:
    """`candidates` as (chain decoded, the later chains that decode alike and stand in
    another screening domain), each chain in one group."""
    groups: dict[tuple[object, ...], list[Chain]] = {}
    for chain in candidates:
        groups.setdefault(_decoding(chain), []).append(chain)
    return tuple(
        (first, tuple(c for c in others if c.domain != first.domain))
        for first, *others in groups.values()
    )


def screening_readings(text: str) -> list[Address]:
    """One reading of `text` per place it is screened (Address.domain): every EVM chain is one
    place, named by the first EVM chain that reads it."""
    return list(readings_in(text) or ())


def readings_in(text: str, domains: frozenset[str] | None = None) -> tuple[Address, ...] | None:
    """The screening readings of `text` in these domains only (None: in all); None when no
    chain reads it at all. A chain of a domain not asked for is decoded only while that is
    still unknown: a screener holding nothing on a chain need not read every text as it."""
    return _readings_in(text.strip(), domains)


@lru_cache(maxsize=256)  # a few dozen first characters, and one set of domains per screener
def placements(
    first: str, domains: frozenset[str] | None
) -> tuple[tuple[Chain, tuple[Chain, ...]], ...]:
    """For a text starting with `first`: each chain to decode, and the chains in `domains`
    that a reading by it places the address on."""
    return tuple(
        (chain, tuple(c for c in (chain, *alike) if domains is None or c.domain in domains))
        for chain, alike in _alike(_CANDIDATES.get(first, _ANY))
    )


# Screened addresses recur (deposit addresses, busy wallets) and reading a text as every
# chain costs tens of microseconds of Python decoding.
@lru_cache(maxsize=1 << 17)
def _readings_in(text: str, domains: frozenset[str] | None) -> tuple[Address, ...] | None:
    """Once one chain reads `text`, chains placing nothing in `domains` are skipped."""
    found: list[Address] = []
    valid = False
    for chain, placed in placements(text[:1], domains):
        if valid and not placed:
            continue
        if not has_prefix(chain, text):
            continue
        address = reading(chain, text)
        if address is None:
            continue
        valid = True
        found += (_placed(address, c) for c in placed)
    return tuple(found) if valid else None


def _placed(address: Address, chain: Chain) -> Address:
    """`address` on `chain`, which reads it alike."""
    if chain is address.chain:
        return address
    return Address(chain, address.canonical, address.kind, address.tag)


def parse_address(text: str, chain: str | None = None) -> Address:
    """The address `text` on `chain` (a name, ticker or CAIP-2 id), or on the one chain it can
    only belong to. Raises InvalidAddress saying what is wrong."""
    text = text.strip()
    if not text:
        raise InvalidAddress(Problem.BAD_LENGTH, "address is empty")
    return _parse(text, chain)


# Addresses recur (every version of an indicator, every screening of a busy wallet), and
# decoding base58 and checksums in Python costs tens of microseconds; readings are immutable.
@lru_cache(maxsize=1 << 16)
def _parse(text: str, chain: str | None) -> Address:
    if chain is None:
        return _only_reading(text)
    chains = resolve_chains(chain)
    failures: list[tuple[Chain, EncodingError]] = []
    for candidate in chains:
        try:
            return _decode(candidate, text)
        except EncodingError as error:
            failures.append((candidate, error))
    return _explain(text, failures)


def _only_reading(text: str) -> Address:
    shown = clipped(text, LONGEST_SHOWN)
    readings = detect(text)
    mainnet = [address for address in readings if not address.chain.testnet]
    readings = mainnet or readings
    if len(readings) == 1:
        return readings[0]
    if readings:
        names = ", ".join(address.chain.key for address in readings)
        raise InvalidAddress(
            Problem.AMBIGUOUS, f"{shown} is valid on several chains: {names}; name its chain"
        )
    failures = [
        (chain, _failure(chain, text))
        for chain in CHAINS
        if chain.prefixes and has_prefix(chain, text)
    ]
    if len({chain.coin for chain, _ in failures}) != 1:
        raise InvalidAddress(Problem.UNKNOWN_PREFIX, f"{shown} is no address of a known chain")
    return _explain(text, failures[:1])


def _failure(chain: Chain, text: str) -> EncodingError:
    try:
        _decode(chain, text)
    except EncodingError as error:
        return error
    raise AssertionError("only called for text that does not decode")


def _explain(text: str, failures: list[tuple[Chain, EncodingError]]) -> Address:
    """Raise the most useful error for `text`, which no chain in `failures` accepted."""
    shown = clipped(text, LONGEST_SHOWN)
    named = [chain for chain, _ in failures]
    readings = detect(text)
    for chain in named:
        other_network = [a.chain for a in readings if a.chain.coin == chain.coin]
        if other_network:
            raise InvalidAddress(
                Problem.WRONG_NETWORK,
                f"{shown} is {with_article(other_network[0].name)} address, not {chain.name}",
            )
    chain, error = next(
        ((c, e) for c, e in failures if e.problem is not Problem.UNKNOWN_PREFIX), failures[0]
    )
    if len(failures) > 1 and error.problem is Problem.UNKNOWN_PREFIX:
        message = f"not {with_article(' or '.join(c.name for c in named))} address"
    else:
        message = f"not a valid {chain.name} address: {error.message}"
    if readings:
        message += f"; it reads as {with_article(readings[0].chain.name)} address"
    raise InvalidAddress(error.problem, f"{shown}: {message}")

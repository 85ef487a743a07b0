"""Screening keys: for a text as written, the Address.key of each chain in a screener's
domains that reads it, with the domains (Address.domain) it is placed on, without building the
addresses. The screener needs nothing more, and building an address per reading, with the
errors every refusing chain raises, costs more than decoding the text. A legacy Bitcoin Cash
address is the one reading keyed by its text, not by its key: spelling it as CashAddr cost more
than the rest of screening it, and the screener holds each Bitcoin Cash key by its legacy text
too (`legacy_aliases`).

The shapes nearly every screened text has (base58check, segwit, EVM hex, Solana keys, XRP
classic addresses) are judged here from bytes decoded once per text: base58check, decoded and
checked in Rust, by one lookup of what its length and version bytes are read as; the rest by
the same codecs as the chains' decoders, in one loop over the chains the text may be on; every
other family by its decoder in `addresses`. Tests hold `screening_keys` to
`addresses.readings_in`, the reference, on every family's addresses and on texts that nearly
are."""

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import NamedTuple

from feed.addresses import (
    CASHADDR_KINDS,
    HEX_DIGITS,
    MONERO_LENGTHS,
    has_prefix,
    placements,
    reading,
)
from feed.base32 import cashaddr_decode, segwit_decode
from feed.chains import CHAINS, Chain, Family
from feed.encodings import (
    BITCOIN_ALPHABET,
    RIPPLE_ALPHABET,
    EncodingError,
    base58_bytes,
    base58check_bitcoin,
    base58check_encode,
    base58check_payload,
    checksum_matches,
    eip55,
)

Key = tuple[str, str]  # (domain, key)
# A reading's key and the domains it is placed on: most texts hit nothing, and the key's one
# filter check then answers for every domain.
Placed = tuple[str, tuple[str, ...]]
_HEX = frozenset(HEX_DIGITS)
_TRON_VERSIONS = {b"\x41": "account"}  # version 0x41 spells 34 characters, no fewer
_SOLANA_BYTES = 32  # a public key, with no version and no checksum


# What a chain reads a text as: plain integers, not an Enum, whose members cost a lookup in a
# loop run for every chain. The two read from the decoded bytes are numbered first, so that
# one comparison (`shape <= _SOLANA_KEY`) finds them.
_BASE58CHECK = 0  # or segwit, where the text starts with the chain's segwit prefix
_SOLANA_KEY = 1
_EVM_HEX = 2
_XRP_CLASSIC = 3
_BITCOIN_CASH = 4  # by its decoder, a legacy address as base58check
_MONERO = 5  # by its decoder, once its length is one a Monero address has
_DECODED = 6  # by the chain's own decoder


class _Step(NamedTuple):
    """A chain to read a text as, with what reading it needs, worked out once per first
    character and set of domains."""

    chain: Chain
    placed: tuple[str, ...]  # the domains a reading is placed on (chains reading it alike)
    prefix_shown: bool  # the first character alone shows the chain's prefix
    shape: int
    versions: Mapping[bytes, str] = {}  # base58check version bytes
    width: int = 0  # of the version bytes
    segwit: str = ""  # the segwit prefix and separator, if the first character may start it
    lengths: frozenset[int] = frozenset()  # of a text a Solana key's 32 bytes may spell


class _Plan(NamedTuple):
    """How to read a text by its first character, for one set of domains."""

    steps: tuple[_Step, ...]
    # Where every chain placing a reading in the domains reads base58 bytes (nearly every
    # first character): from (length, version bytes) of base58check or, for a Solana key, the
    # length alone, to the domains a text of such bytes is placed on (keyed by the text), in
    # step order. A text with no entry, or with the prefix of a segwit step, goes through the
    # steps.
    by_bytes: Mapping[int | tuple[int, bytes], tuple[str, ...]] | None
    # By each segwit prefix a step has, the steps that may read a text starting with it: a
    # segwit text skips the chains whose prefixes it cannot have (a quarter of a `bc1` text's
    # time went to them), and one the prefix shows is not asked again.
    segwit: Mapping[str, tuple[_Step, ...]]


def screening_keys(text: str, domains: frozenset[str]) -> tuple[Placed, ...] | None:
    """The key of each screening reading of `text` in `domains` with the domains it is placed
    on, in the order of `readings_in(text, domains)`; None when no chain reads the text at
    all. Once one chain reads it, chains placing nothing in `domains` are not read."""
    text = text.strip()
    plan = _plan(text[:1], domains)
    if plan.segwit:
        lower = text.lower()
        for prefix, steps in plan.segwit.items():
            if lower.startswith(prefix):
                return _read_by_steps(text, steps)
    # Few steps in Python: a text of this shape is read once, not once per chain.
    if plan.by_bytes is not None:
        payload = base58check_bitcoin(text)
        if payload is not None:
            size = len(payload) + 4
            placed = plan.by_bytes.get(size) or plan.by_bytes.get((size, payload[: size - 24]))
            if placed is not None:
                return ((text, placed),)
        elif _SOLANA_BYTES in plan.by_bytes and len(text) in _solana_lengths(text[:1]):
            raw = base58_bytes(text, BITCOIN_ALPHABET)  # a Solana key has no checksum
            if raw is not None and len(raw) == _SOLANA_BYTES:
                return ((text, plan.by_bytes[_SOLANA_BYTES]),)
    return _read_by_steps(text, plan.steps)


def _read_by_steps(text: str, steps: tuple[_Step, ...]) -> tuple[Placed, ...] | None:
    found: list[Placed] = []
    valid = False
    raw: bytes | None = None  # the text's bytes in the Bitcoin alphabet, decoded once
    decoded = False
    checked: bool | None = None  # whether their last 4 bytes are their checksum, once asked
    for chain, placed, prefix_shown, shape, versions, width, segwit, lengths in steps:
        if valid and not placed:
            continue
        if not prefix_shown and not has_prefix(chain, text):
            continue
        key: str | None = None
        # Nearly every step is segwit, told by its prefix, or read from the decoded bytes.
        if segwit and text.lower().startswith(segwit):
            key = _segwit_key(text, segwit)
        elif shape <= _SOLANA_KEY or (
            shape == _BITCOIN_CASH and ":" not in text and text[:1] not in "qpQP"  # legacy
        ):  # base58check, a legacy Bitcoin Cash address too, or a Solana key: bytes decoded once
            if shape == _SOLANA_KEY and len(text) not in lengths:
                continue  # too short or too long for 32 bytes: not decoded
            if not decoded:
                raw, decoded = base58_bytes(text, BITCOIN_ALPHABET), True
            if raw is None:
                pass
            elif shape == _SOLANA_KEY:
                key = text if len(raw) == _SOLANA_BYTES else None
            elif len(raw) == width + 24 and raw[:width] in versions:
                if checked is None:
                    checked = checksum_matches(raw)
                if checked:
                    key = text
        elif shape == _EVM_HEX:
            key = _evm_key(text)
        elif shape == _XRP_CLASSIC:
            key = _xrp_key(chain, text)
        elif shape == _MONERO:
            key = _decoded(chain, text) if len(text) in MONERO_LENGTHS else None
        else:  # by the chain's own decoder, a CashAddr address included
            key = _decoded(chain, text)
        if key is None:
            continue
        valid = True
        if placed:
            found.append((key, placed))
    return tuple(found) if valid else None


@lru_cache(maxsize=256)  # a few dozen first characters, and one set of domains per screener
def _plan(first: str, domains: frozenset[str]) -> _Plan:
    steps = tuple(
        _step(chain, tuple(c.domain for c in placed), first)
        for chain, placed in placements(first, domains)
    )
    segwit = {step.segwit: _after_segwit(steps, step.segwit) for step in steps if step.segwit}
    return _Plan(steps, _by_bytes(steps, first), segwit)


def _after_segwit(steps: tuple[_Step, ...], segwit: str) -> tuple[_Step, ...]:
    """The steps that may read a text starting with `segwit` in any case: those of chains
    with no prefix or one that may start such a text, a prefix the text has marked shown."""
    kept = []
    for step in steps:
        prefixes = [prefix.lower() for prefix in step.chain.prefixes]
        if prefixes and not any(p.startswith(segwit) or segwit.startswith(p) for p in prefixes):
            continue
        shown = step.prefix_shown or segwit.startswith(step.chain.caseless_prefixes)
        kept.append(step._replace(prefix_shown=shown))
    return tuple(kept)


def _by_bytes(
    steps: tuple[_Step, ...], first: str
) -> dict[int | tuple[int, bytes], tuple[str, ...]] | None:
    """`_Plan.by_bytes` for these steps, or None where a chain placing readings reads
    something else. Version bytes spell their chain's prefixes, so no prefix is checked."""
    readers: dict[int | tuple[int, bytes], list[_Step]] = {}
    for step in steps:
        if step.shape == _SOLANA_KEY:
            readers.setdefault(_SOLANA_BYTES, []).append(step)
        elif step.shape == _BASE58CHECK or (step.shape == _BITCOIN_CASH and first not in "qpQP"):
            for version in step.versions:
                readers.setdefault((step.width + 24, version), []).append(step)
        elif step.placed:
            return None
    return {key: tuple(d for step in read for d in step.placed) for key, read in readers.items()}


def _step(chain: Chain, placed: tuple[str, ...], first: str) -> _Step:
    shown = not chain.prefixes or first in chain.prefixes
    if chain.family is Family.UTXO:
        segwit = chain.hrp + "1" if chain.hrp and chain.hrp[0] == first.lower() else ""
        return _Step(
            chain, placed, shown, _BASE58CHECK, chain.versions, chain.version_width, segwit
        )
    if chain.family is Family.TRON:
        return _Step(chain, placed, shown, _BASE58CHECK, _TRON_VERSIONS, 1)
    if chain.family is Family.BITCOIN_CASH:
        return _Step(chain, placed, shown, _BITCOIN_CASH, chain.versions, chain.version_width)
    if chain.family is Family.SOLANA:
        return _Step(chain, placed, shown, _SOLANA_KEY, lengths=_solana_lengths(first))
    shape = {
        Family.EVM: _EVM_HEX,
        Family.XRPL: _XRP_CLASSIC,
        Family.MONERO: _MONERO,
    }.get(chain.family, _DECODED)
    return _Step(chain, placed, shown, shape)


# Lengths of a base58 text that may spell 32 bytes: a leading "1" is a zero byte; with none,
# 32 bytes of which the first is not zero take 43 or 44 digits.
_SOLANA_LENGTHS_FROM_ZERO = frozenset(range(32, 45))
_SOLANA_LENGTHS = frozenset((43, 44))


def _solana_lengths(first: str) -> frozenset[int]:
    """The lengths of a text starting with `first` that a Solana key may have."""
    return _SOLANA_LENGTHS_FROM_ZERO if first == BITCOIN_ALPHABET[0] else _SOLANA_LENGTHS


def _decoded(chain: Chain, text: str) -> str | None:
    address = reading(chain, text)
    return None if address is None else address.key


def _segwit_key(text: str, segwit: str) -> str | None:
    try:
        hrp, _, _ = segwit_decode(text)
    except EncodingError:
        return None
    return text.lower() if hrp + "1" == segwit else None


def _evm_key(text: str) -> str | None:
    digits = text[2:]
    if not text.startswith("0x") or len(digits) != 40 or not _HEX.issuperset(digits):
        return None
    lower = digits.lower()
    if digits not in (lower, digits.upper()) and eip55(lower) != text:
        return None  # mixed case that fails its EIP-55 checksum
    return "0x" + lower


def _xrp_key(chain: Chain, text: str) -> str | None:
    if "?dt=" in text:
        return _decoded(chain, text)  # a destination tag, to be checked
    payload = base58check_payload(text, 21, RIPPLE_ALPHABET)
    return text if payload is not None and payload[0] == 0 else None


_BITCOIN_CASH_DOMAINS = {c.domain: c for c in CHAINS if c.family is Family.BITCOIN_CASH}


def legacy_aliases(domain: str, keys: Iterable[str]) -> dict[str, str]:
    """On a Bitcoin Cash domain, each of `keys` (CashAddr addresses, as Address.key has them)
    by the legacy text of the same address, which `screening_keys` keys a legacy reading by;
    on any other domain, nothing."""
    chain = _BITCOIN_CASH_DOMAINS.get(domain)
    if chain is None:
        return {}
    legacy = {kind: version for version, kind in chain.versions.items()}
    aliases = {}
    for key in keys:
        version, hash160 = cashaddr_decode(chain.hrp, key.partition(":")[2])
        aliases[base58check_encode(legacy[CASHADDR_KINDS[version]] + hash160)] = key
    return aliases

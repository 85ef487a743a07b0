"""Screening keys: for a text as written, the (Address.domain, Address.key) of each chain in a
screener's domains that reads it, without building the addresses. The screener needs nothing
more, and building an address per reading, with the errors every refusing chain raises, costs
more than decoding the text.

The shapes nearly every screened text has (base58check, segwit, EVM hex in one case, Solana
keys, XRP classic addresses) are judged here straight from their decoded bytes, by the same
codecs as the chains' decoders; every other family, and mixed-case EVM hex, by its decoder in
`addresses`. Tests hold `screening_keys` to `addresses.readings_in`, the reference, on every
family's addresses and on texts that nearly are."""

from collections.abc import Callable

from feed.addresses import HEX_DIGITS, read_in, reading
from feed.chains import Chain, Family
from feed.encodings import (
    BITCOIN_ALPHABET,
    RIPPLE_ALPHABET,
    EncodingError,
    base58_bytes,
    base58check_payload,
    segwit_decode,
)

Key = tuple[str, str]
_HEX = frozenset(HEX_DIGITS)


def screening_keys(text: str, domains: frozenset[str]) -> tuple[Key, ...] | None:
    """(domain, key) of each screening reading of `text` in `domains`, in the order of
    `readings_in(text, domains)`; None when no chain reads the text at all."""
    return read_in(text.strip(), domains, _key, _placed)


def _placed(key: str, chain: Chain) -> Key:
    return chain.domain, key


def _key(chain: Chain, text: str) -> str | None:
    return _READERS.get(chain.family, _decoded)(chain, text)


def _decoded(chain: Chain, text: str) -> str | None:
    address = reading(chain, text)
    return None if address is None else address.key


def _utxo(chain: Chain, text: str) -> str | None:
    if chain.hrp and text.lower().startswith(chain.hrp + "1"):
        try:
            hrp, _, _ = segwit_decode(text)
        except EncodingError:
            return None
        return text.lower() if hrp == chain.hrp else None
    width = chain.version_width
    payload = base58check_payload(text, width + 20)
    return text if payload is not None and payload[:width] in chain.versions else None


def _evm(chain: Chain, text: str) -> str | None:
    digits = text[2:]
    if not text.startswith("0x") or len(digits) != 40 or not _HEX.issuperset(digits):
        return None
    lower = digits.lower()
    if digits not in (lower, digits.upper()):
        return _decoded(chain, text)  # mixed case: its EIP-55 checksum decides
    return "0x" + lower


def _tron(chain: Chain, text: str) -> str | None:
    payload = base58check_payload(text, 21)  # version 0x41 spells 34 characters, no fewer
    return text if payload is not None and payload[0] == 0x41 else None


def _solana(chain: Chain, text: str) -> str | None:
    key = base58_bytes(text, BITCOIN_ALPHABET)
    return text if key is not None and len(key) == 32 else None


def _xrpl(chain: Chain, text: str) -> str | None:
    if "?dt=" in text:
        return _decoded(chain, text)  # a destination tag, to be checked
    payload = base58check_payload(text, 21, RIPPLE_ALPHABET)
    return text if payload is not None and payload[0] == 0 else None


_READERS: dict[Family, Callable[[Chain, str], str | None]] = {
    Family.UTXO: _utxo,
    Family.EVM: _evm,
    Family.TRON: _tron,
    Family.SOLANA: _solana,
    Family.XRPL: _xrpl,
}

"""The byte encodings that cryptocurrency addresses use, each checked by its own checksum:
base58check (Bitcoin and its forks, Tron, XRP), Monero's block base58 and EIP-55 mixed-case
hex; the base32 ones (bech32, CashAddr) are in `base32`. Pure; every failure is an
EncodingError whose `problem` says what kind of damage was found."""

import functools
import hashlib
import string
from enum import StrEnum

import base58
from based58 import b58decode_check
from gmpy2 import mpz
from sha3 import keccak_256

from feed.errors import counted

BITCOIN_ALPHABET = base58.BITCOIN_ALPHABET.decode()
RIPPLE_ALPHABET = base58.RIPPLE_ALPHABET.decode()
MONERO_BLOCK_CHARS = 11
# Characters that encode a block of n bytes, at index n (Monero's base58).
MONERO_PARTIAL_CHARS = (0, 2, 3, 5, 6, 7, 9, 10, 11)


class Problem(StrEnum):
    UNKNOWN_CHAIN = "unknown-chain"
    UNKNOWN_PREFIX = "unknown-prefix"
    BAD_CHARACTER = "bad-character"
    BAD_LENGTH = "bad-length"
    BAD_CHECKSUM = "bad-checksum"
    BAD_CASE = "bad-case"
    WRONG_NETWORK = "wrong-network"
    AMBIGUOUS = "ambiguous"
    UNSUPPORTED = "unsupported"


class EncodingError(ValueError):
    def __init__(self, problem: Problem, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message


def keccak256(data: bytes) -> bytes:
    digest: bytes = keccak_256(data).digest()
    return digest


@functools.lru_cache(maxsize=8)
def _characters(alphabet: str) -> frozenset[str]:
    return frozenset(alphabet)


def check_alphabet(text: str, alphabet: str, name: str, *, start: int = 1) -> None:
    """Raise BAD_CHARACTER naming the first character of `text` not in `alphabet`, counting
    positions from `start` (where `text` begins in what was written)."""
    if not _characters(alphabet).issuperset(text):
        raise bad_character(text, alphabet, name, start)


def bad_character(text: str, alphabet: str, name: str, start: int = 1) -> EncodingError:
    """BAD_CHARACTER, naming the first character of `text` that is not in `alphabet`."""
    position, character = next(
        (position, character)
        for position, character in enumerate(text, start=start)
        if character not in alphabet
    )
    return EncodingError(
        Problem.BAD_CHARACTER, f"character {character!r} at position {position} is not {name}"
    )


# GMP reads numbers in bases up to 62 spelled with these digits; base58's values are the first 58.
_GMP_DIGITS = string.digits + string.ascii_uppercase + string.ascii_lowercase
_NOT_A_GMP_DIGIT = ord("!")


@functools.lru_cache(maxsize=8)
def _gmp_digits(alphabet: str) -> bytes:
    """A bytes.translate table from each character of `alphabet` to the GMP digit of its
    value, and from every other byte to one that is no GMP digit."""
    table = bytearray([_NOT_A_GMP_DIGIT] * 256)
    for character, digit in zip(alphabet, _GMP_DIGITS, strict=False):
        table[ord(character)] = ord(digit)
    return bytes(table)


def base58_bytes(text: str, alphabet: str) -> bytes | None:
    """The bytes a base58 text spells; None when a character is not in `alphabet`. GMP
    converts the number in C: a Bitcoin address in 0.7 us, against 1.8 in a loop in Python
    and 5.4 in the base58 package (tests hold it as the reference)."""
    # A lone surrogate, which strict UTF-8 cannot encode, becomes bytes no digit has.
    digits = text.encode("utf-8", "surrogatepass").translate(_gmp_digits(alphabet))
    # Checked here, not left to GMP, which skips white space and reads a sign or underscore.
    if _NOT_A_GMP_DIGIT in digits:
        return None
    number = mpz(digits, 58) if digits else mpz(0)
    decoded: bytes = number.to_bytes((number.bit_length() + 7) // 8, "big")
    zero = alphabet[0]
    if text[:1] != zero:  # nearly every address: no leading zero digit to count
        return decoded
    return bytes(len(text) - len(text.lstrip(zero))) + decoded  # a zero byte each


# Decoding a text as every chain asks it of the same text once per base58 chain.
_cached_base58_bytes = functools.lru_cache(maxsize=1024)(base58_bytes)


def _base58(text: str, alphabet: str) -> bytes:
    decoded = _cached_base58_bytes(text, alphabet)
    if decoded is None:
        raise bad_character(text, alphabet, "base58")
    return decoded


def base58check_payload(text: str, size: int, alphabet: str = BITCOIN_ALPHABET) -> bytes | None:
    """The payload (version bytes and hash, without the 4-byte checksum) of a base58check
    string whose payload must be `size` bytes; None when it is not one."""
    raw = _cached_base58_bytes(text, alphabet)
    if raw is None or len(raw) != size + 4 or not _cached_checksum_matches(raw):
        return None
    return raw[:-4]


def base58check_decode(text: str, size: int, alphabet: str = BITCOIN_ALPHABET) -> bytes:
    """base58check_payload, raising an EncodingError that says why there is none."""
    payload = base58check_payload(text, size, alphabet)
    if payload is not None:
        return payload
    raw = _base58(text, alphabet)
    if len(raw) != size + 4:
        raise EncodingError(
            Problem.BAD_LENGTH, f"decodes to {counted(len(raw), 'byte')}; {size + 4} expected"
        )
    raise EncodingError(Problem.BAD_CHECKSUM, "base58check checksum does not match")


def _base58check_checksum(payload: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]


def checksum_matches(raw: bytes) -> bool:
    """Whether the last 4 bytes are base58check's checksum (double SHA-256) of the rest."""
    return _base58check_checksum(raw[:-4]) == raw[-4:]


# Asked once per chain that reads the same bytes.
_cached_checksum_matches = functools.lru_cache(maxsize=1024)(checksum_matches)


def base58check_bitcoin(text: str) -> bytes | None:
    """The payload (checksum stripped) of a base58check text in the Bitcoin alphabet; None
    when a character is not base58 or the checksum does not match. Decoded and checked in
    Rust (based58): 0.6 us, against 1.7 for `base58_bytes` and `checksum_matches`, which
    tests hold it to."""
    try:
        payload: bytes = b58decode_check(text.encode("utf-8", "surrogatepass"))
    except ValueError:  # not base58, too short for a checksum, or not its checksum
        return None
    return payload


def base58check_encode(payload: bytes, alphabet: str = BITCOIN_ALPHABET) -> str:
    checksum = _base58check_checksum(payload)
    return base58.b58encode(payload + checksum, alphabet=alphabet.encode()).decode()


def base58_decode(text: str, size: int) -> bytes:
    """Plain base58 without a checksum (Solana): only the alphabet and length can be checked."""
    raw = _base58(text, BITCOIN_ALPHABET)
    if len(raw) != size:
        raise EncodingError(
            Problem.BAD_LENGTH, f"decodes to {counted(len(raw), 'byte')}; {size} expected"
        )
    return raw


def monero_base58_decode(text: str) -> bytes:
    """Monero's base58: 8-byte blocks of 11 characters each, the last block shorter."""
    check_alphabet(text, BITCOIN_ALPHABET, "base58")
    if len(text) % MONERO_BLOCK_CHARS not in MONERO_PARTIAL_CHARS:
        raise EncodingError(
            Problem.BAD_LENGTH, f"{counted(len(text), 'character')} is no Monero length"
        )
    decoded = bytearray()
    for start in range(0, len(text), MONERO_BLOCK_CHARS):
        block = text[start : start + MONERO_BLOCK_CHARS]
        size = MONERO_PARTIAL_CHARS.index(len(block))
        number = 0
        for character in block:
            number = number * 58 + BITCOIN_ALPHABET.index(character)
        if number >> (8 * size):
            raise EncodingError(Problem.BAD_CHARACTER, f"block at {start + 1} overflows")
        decoded += number.to_bytes(size, "big")
    return bytes(decoded)


def monero_checked(data: bytes) -> bytes:
    """`data` without its 4-byte Keccak checksum, once the checksum matches."""
    if keccak256(data[:-4])[:4] != data[-4:]:
        raise EncodingError(Problem.BAD_CHECKSUM, "Keccak checksum does not match")
    return data[:-4]


# EIP-55 by whole-string operations: hex digits of the hash from 8 up, and the letters a-f,
# each become 0x20, which cleared (XOR) from a lower-case letter makes it upper case.
_HIGH_NIBBLE = bytes.maketrans(b"0123456789abcdef", b"\0" * 8 + b"\x20" * 8)
_LETTER = bytes.maketrans(b"0123456789abcdef", b"\0" * 10 + b"\x20" * 6)


def eip55(hex_digits: str) -> str:
    """The EIP-55 mixed-case checksum form of 40 lower-case hex digits, with 0x."""
    lower = hex_digits.encode()
    high = keccak256(lower).hex().encode()[: len(lower)].translate(_HIGH_NIBBLE)
    upper = int.from_bytes(high, "big") & int.from_bytes(lower.translate(_LETTER), "big")
    return "0x" + (int.from_bytes(lower, "big") ^ upper).to_bytes(len(lower), "big").decode()

"""The byte encodings that cryptocurrency addresses use, each checked by its own checksum:
base58check (Bitcoin and its forks, Tron, XRP), Monero's block base58, bech32 and bech32m
segwit (BIP-173, BIP-350), CashAddr, and EIP-55 mixed-case hex. Pure; every failure is an
EncodingError whose `problem` says what kind of damage was found."""

import base64
import functools
import hashlib
import operator
import string
from collections.abc import Sequence
from enum import StrEnum

import base58
import gmpy2
from bech32 import CHARSET as BECH32_CHARSET
from bech32 import bech32_hrp_expand
from sha3 import keccak_256

BITCOIN_ALPHABET = base58.BITCOIN_ALPHABET.decode()
RIPPLE_ALPHABET = base58.RIPPLE_ALPHABET.decode()
BECH32M_CONSTANT = 0x2BC830A3
BECH32_GENERATORS = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
CASHADDR_GENERATORS = (0x98F2BC8E61, 0x79B76D99E2, 0xF33E5FB3C4, 0xAE2EABE2A8, 0x1E4F43E470)
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
        raise _bad_character(text, alphabet, name, start)


def _bad_character(text: str, alphabet: str, name: str, start: int = 1) -> EncodingError:
    position, character = next(
        (position, character)
        for position, character in enumerate(text, start=start)
        if character not in alphabet
    )
    return EncodingError(
        Problem.BAD_CHARACTER, f"character {character!r} at position {position} is not {name}"
    )


# From bech32's characters to their 5-bit values, and from every other byte to one no value
# is: one pass in C both checks the characters and converts them.
_NOT_BECH32 = 0xFF
_BECH32_VALUES = bytes(
    BECH32_CHARSET.index(chr(byte)) if chr(byte) in BECH32_CHARSET else _NOT_BECH32
    for byte in range(256)
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
    number = gmpy2.mpz(digits, 58) if digits else gmpy2.mpz(0)
    zeros = len(text) - len(text.lstrip(alphabet[0]))  # each leading zero digit is a zero byte
    decoded: bytes = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return bytes(zeros) + decoded


# Decoding a text as every chain asks it of the same text once per base58 chain.
_cached_base58_bytes = functools.lru_cache(maxsize=1024)(base58_bytes)


def _base58(text: str, alphabet: str) -> bytes:
    decoded = _cached_base58_bytes(text, alphabet)
    if decoded is None:
        raise _bad_character(text, alphabet, "base58")
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
        raise EncodingError(Problem.BAD_LENGTH, f"decodes to {len(raw)} bytes; {size + 4} expected")
    raise EncodingError(Problem.BAD_CHECKSUM, "base58check checksum does not match")


def _base58check_checksum(payload: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]


def checksum_matches(raw: bytes) -> bool:
    """Whether the last 4 bytes are base58check's checksum (double SHA-256) of the rest."""
    return _base58check_checksum(raw[:-4]) == raw[-4:]


# Asked once per chain that reads the same bytes.
_cached_checksum_matches = functools.lru_cache(maxsize=1024)(checksum_matches)


def base58check_encode(payload: bytes, alphabet: str = BITCOIN_ALPHABET) -> str:
    checksum = _base58check_checksum(payload)
    return base58.b58encode(payload + checksum, alphabet=alphabet.encode()).decode()


def base58_decode(text: str, size: int) -> bytes:
    """Plain base58 without a checksum (Solana): only the alphabet and length can be checked."""
    raw = _base58(text, BITCOIN_ALPHABET)
    if len(raw) != size:
        raise EncodingError(Problem.BAD_LENGTH, f"decodes to {len(raw)} bytes; {size} expected")
    return raw


def monero_base58_decode(text: str) -> bytes:
    """Monero's base58: 8-byte blocks of 11 characters each, the last block shorter."""
    check_alphabet(text, BITCOIN_ALPHABET, "base58")
    if len(text) % MONERO_BLOCK_CHARS not in MONERO_PARTIAL_CHARS:
        raise EncodingError(Problem.BAD_LENGTH, f"{len(text)} characters is no Monero length")
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


_HRP_CHARACTERS = "".join(map(chr, range(33, 127)))


def _five_bit_values(text: str, name: str) -> bytes:
    """The 5-bit values of characters of bech32's charset; raises BAD_CHARACTER naming the
    first character of `text` that is not one."""
    # A lone surrogate, which strict UTF-8 cannot encode, becomes bytes no value has.
    values = text.encode("utf-8", "surrogatepass").translate(_BECH32_VALUES)
    if _NOT_BECH32 in values:
        raise _bad_character(text, BECH32_CHARSET, name)
    return values


def _split_bech32(text: str, max_length: int) -> tuple[str, bytes]:
    """The human-readable part and the 5-bit values (checksum included) of a bech32 string."""
    lower = text.lower()
    if lower != text and text.upper() != text:
        raise EncodingError(Problem.BAD_CASE, "mixes upper and lower case")
    text = lower
    separator = text.rfind("1")
    if separator < 1 or len(text) > max_length:
        raise EncodingError(Problem.BAD_LENGTH, f"{len(text)} characters; at most {max_length}")
    check_alphabet(text[:separator], _HRP_CHARACTERS, "printable US-ASCII")  # as BIP-173 asks
    data_part = text[separator + 1 :]
    values = _five_bit_values(data_part, "bech32")
    if len(data_part) < 6:
        raise EncodingError(Problem.BAD_LENGTH, "data part shorter than its checksum")
    return text[:separator], values


def _possible_segwit_lengths() -> frozenset[int]:
    """Data-part lengths (version, program, checksum) of every valid segwit program size."""
    return frozenset(1 + -(-8 * size // 5) + 6 for size in range(2, 41))


SEGWIT_LENGTHS = _possible_segwit_lengths()
SEGWIT_V0_LENGTHS = frozenset({1 + 32 + 6, 1 + 52 + 6})


def segwit_decode(text: str) -> tuple[str, int, bytes]:
    """(human-readable part, witness version, witness program) of a segwit address."""
    hrp, values = _split_bech32(text, 90)
    if len(values) < 7:
        raise EncodingError(Problem.BAD_LENGTH, "no witness version before the checksum")
    plausible = SEGWIT_V0_LENGTHS if values[0] == 0 else SEGWIT_LENGTHS
    constant = _bech32_polymod(hrp, values)
    if constant not in (1, BECH32M_CONSTANT):
        if len(values) not in plausible:
            raise EncodingError(Problem.BAD_LENGTH, f"{len(text)} characters is no segwit length")
        raise EncodingError(Problem.BAD_CHECKSUM, "bech32 checksum does not match")
    version = values[0]
    if version > 16:
        raise EncodingError(Problem.UNKNOWN_PREFIX, f"witness version {version} does not exist")
    expected = 1 if version == 0 else BECH32M_CONSTANT
    if constant != expected:
        wanted = "bech32" if version == 0 else "bech32m"
        raise EncodingError(
            Problem.BAD_CHECKSUM, f"witness version {version} needs a {wanted} checksum"
        )
    program = _from_five_bit(values[1:-6])
    if program is None or not 2 <= len(program) <= 40:
        raise EncodingError(Problem.BAD_LENGTH, "witness program has an invalid length")
    if version == 0 and len(program) not in (20, 32):
        raise EncodingError(
            Problem.BAD_LENGTH, f"version 0 program of {len(program)} bytes; 20 or 32 expected"
        )
    return hrp, version, program


def bech32_plain_decode(text: str) -> tuple[str, bytes]:
    """(human-readable part, payload) of plain bech32 without a witness version (BNB Beacon)."""
    hrp, values = _split_bech32(text, 90)
    if _bech32_polymod(hrp, values) != 1:
        raise EncodingError(Problem.BAD_CHECKSUM, "bech32 checksum does not match")
    payload = _from_five_bit(values[:-6])
    if payload is None:
        raise EncodingError(Problem.BAD_LENGTH, "payload has an invalid length")
    return hrp, payload


# From 5-bit values to the digits of int(..., 32), which reads them in C.
_BASE32_DIGITS = bytes.maketrans(bytes(range(32)), b"0123456789abcdefghijklmnopqrstuv")


class _Checksum:
    """A BCH checksum over 5-bit values (bech32's of 30 bits, CashAddr's of 40). It is linear
    over GF(2): the checksum after some values is what the state before them becomes after as
    many zeros, XOR what each of their bits makes of a zero state, which depends only on how
    many bits follow it. So the values are read as one number, and each byte of it, counted
    from the end, adds a term from a table of its own: a few dozen lookups done in C (map and
    reduce) instead of a step in Python per value, a third less time for a segwit address."""

    def __init__(self, generators: Sequence[int], bits: int, longest: int) -> None:
        self.shift = bits - 5
        self.low = (1 << self.shift) - 1
        self.terms = tuple(
            functools.reduce(operator.xor, (g for i, g in enumerate(generators) if top >> i & 1), 0)
            for top in range(32)
        )
        self.longest = longest  # values read by table at once; longer runs go in parts
        self.byte_terms = self._byte_terms()
        self.after_zeros = functools.lru_cache(maxsize=256)(self._after_zeros)

    def _step(self, checksum: int, value: int) -> int:
        return ((checksum & self.low) << 5) ^ value ^ self.terms[checksum >> self.shift]

    def _after_zeros(self, checksum: int, count: int) -> int:
        for _ in range(count):
            checksum = self._step(checksum, 0)
        return checksum

    def _byte_terms(self) -> tuple[tuple[int, ...], ...]:
        """For each byte of the values' number, from the least significant, and each value
        of that byte: what it makes of a zero state."""
        bit_terms = [self._step(0, 1 << bit) for bit in range(5)]
        for bit in range(5, 5 * self.longest + 8):  # a bit five places up: one value earlier
            bit_terms.append(self._step(bit_terms[bit - 5], 0))
        tables = []
        for position in range(-(-5 * self.longest // 8)):
            table = [0] * 256
            for byte in range(1, 256):
                lowest = byte & -byte  # the byte is this bit and a byte already tabled
                bit = 8 * position + lowest.bit_length() - 1
                table[byte] = table[byte ^ lowest] ^ bit_terms[bit]
            tables.append(tuple(table))
        return tuple(tables)

    def over(self, values: bytes, checksum: int = 1) -> int:
        """The checksum after `values`, from the state `checksum`."""
        if len(values) > self.longest:  # a long prefix, read once per prefix
            head = self.over(values[: self.longest], checksum)
            return self.over(values[self.longest :], head)
        number = int(values.translate(_BASE32_DIGITS), 32) if values else 0
        data = number.to_bytes(-(-5 * len(values) // 8), "little")
        start = self.after_zeros(checksum, len(values))
        return functools.reduce(operator.xor, map(operator.getitem, self.byte_terms, data), start)


_BECH32 = _Checksum(BECH32_GENERATORS, 30, longest=90)  # no bech32 string is longer
_CASHADDR = _Checksum(CASHADDR_GENERATORS, 40, longest=50)  # a 160-bit hash and its checksum


@functools.lru_cache(maxsize=32)
def _bech32_hrp_state(hrp: str) -> int:
    return _BECH32.over(bytes(bech32_hrp_expand(hrp)))


def _bech32_polymod(hrp: str, values: bytes) -> int:
    """BIP-173's bech32_polymod(bech32_hrp_expand(hrp) + values), the prefix's part once."""
    return _BECH32.over(values, _bech32_hrp_state(hrp))


@functools.lru_cache(maxsize=8)
def _cashaddr_prefix_state(prefix: str) -> int:
    return _CASHADDR.over(bytes([ord(character) & 0x1F for character in prefix] + [0]))


def _cashaddr_polymod(prefix: str, values: bytes) -> int:
    """The CashAddr checksum of `values` after `prefix:`; 0 when they end in a valid one."""
    return _CASHADDR.over(values, _cashaddr_prefix_state(prefix)) ^ 1


def _from_five_bit(values: bytes) -> bytes | None:
    """The bytes that 5-bit `values` spell, or None when what is left over is a whole 5-bit
    value or not zero (BIP-173's convertbits without padding)."""
    number = int(values.translate(_BASE32_DIGITS), 32) if values else 0
    spare = 5 * len(values) % 8
    if spare >= 5 or number & ((1 << spare) - 1):
        return None
    return (number >> spare).to_bytes(5 * len(values) // 8, "big")


# RFC 4648 base32 groups bits as bech32 does, five to a character, and the standard library
# converts five bytes at a step; translations map its alphabet to 5-bit values, and those to
# bech32's characters.
_RFC4648 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_FROM_RFC4648 = bytes.maketrans(_RFC4648, bytes(range(32)))
_TO_BECH32 = bytes.maketrans(bytes(range(32)), BECH32_CHARSET.encode())


def _to_five_bit(data: bytes) -> bytes:
    """`data` as 5-bit values, the last padded with zero bits (convertbits with padding)."""
    return base64.b32encode(data).rstrip(b"=").translate(_FROM_RFC4648)


def cashaddr_decode(prefix: str, payload_text: str) -> tuple[int, bytes]:
    """(version byte, hash) of the part after `prefix:` of a CashAddr address."""
    if payload_text.lower() != payload_text and payload_text.upper() != payload_text:
        raise EncodingError(Problem.BAD_CASE, "mixes upper and lower case")
    payload_text = payload_text.lower()
    values = _five_bit_values(payload_text, "CashAddr base32")
    if len(payload_text) != 42:  # 160-bit hashes: 34 data characters and 8 of checksum
        raise EncodingError(
            Problem.BAD_LENGTH, f"{len(payload_text)} characters after the prefix; 42 expected"
        )
    if _cashaddr_polymod(prefix, values) != 0:
        raise EncodingError(Problem.BAD_CHECKSUM, "CashAddr checksum does not match")
    decoded = _from_five_bit(values[:-8])
    if decoded is None or len(decoded) != 21 or decoded[0] & 0x07:
        raise EncodingError(Problem.BAD_LENGTH, "CashAddr payload is not a 160-bit hash")
    return decoded[0], decoded[1:]


def cashaddr_encode(prefix: str, version: int, hash160: bytes) -> str:
    values = _to_five_bit(bytes([version]) + hash160)
    checksum = _cashaddr_polymod(prefix, values + bytes(8))
    spelled = (values + _to_five_bit(checksum.to_bytes(5, "big"))).translate(_TO_BECH32)
    return f"{prefix}:{spelled.decode()}"


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

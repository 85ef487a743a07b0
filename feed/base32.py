"""The base32 encodings of addresses, five bits to a character under a BCH checksum: bech32
and bech32m segwit (BIP-173, BIP-350), plain bech32, and CashAddr. Pure; every failure is an
EncodingError whose `problem` says what kind of damage was found."""

import functools
import operator
from collections.abc import Sequence

from bech32 import CHARSET as BECH32_CHARSET
from bech32 import bech32_hrp_expand
from gmpy2 import mpz

from feed.encodings import EncodingError, Problem, bad_character, check_alphabet
from feed.errors import counted

BECH32M_CONSTANT = 0x2BC830A3
BECH32_GENERATORS = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
CASHADDR_GENERATORS = (0x98F2BC8E61, 0x79B76D99E2, 0xF33E5FB3C4, 0xAE2EABE2A8, 0x1E4F43E470)

# From bech32's characters to their 5-bit values, and from every other byte to one no value
# is: one pass in C both checks the characters and converts them.
_NOT_BECH32 = 0xFF
_BECH32_VALUES = bytes(
    BECH32_CHARSET.index(chr(byte)) if chr(byte) in BECH32_CHARSET else _NOT_BECH32
    for byte in range(256)
)


_HRP_CHARACTERS = "".join(map(chr, range(33, 127)))


def _five_bit_values(text: str, name: str, start: int) -> bytes:
    """The 5-bit values of characters of bech32's charset; raises BAD_CHARACTER naming the
    first character of `text` that is not one, by its position in what was written (where
    `text` starts at `start`)."""
    # A lone surrogate, which strict UTF-8 cannot encode, becomes bytes no value has.
    values = text.encode("utf-8", "surrogatepass").translate(_BECH32_VALUES)
    if _NOT_BECH32 in values:
        raise bad_character(text, BECH32_CHARSET, name, start)
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
    values = _five_bit_values(data_part, "bech32", separator + 2)
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


# From 5-bit values to the digits of int(..., 32), which reads them in C, and back from the
# digits GMP writes a number in (Python writes none in base 32).
_BASE32_DIGITS = bytes.maketrans(bytes(range(32)), b"0123456789abcdefghijklmnopqrstuv")
_FROM_BASE32_DIGITS = bytes.maketrans(b"0123456789abcdefghijklmnopqrstuv", bytes(range(32)))


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


# From 5-bit values to bech32's characters, which CashAddr spells them in too.
_TO_BECH32 = bytes.maketrans(bytes(range(32)), BECH32_CHARSET.encode())


def _to_five_bit(data: bytes) -> bytes:
    """`data` as 5-bit values, the last padded with zero bits (convertbits with padding): the
    digits of one number in base 32, written by GMP in C. The standard library's base32 goes
    five bytes at a step in Python (3.4 us for a legacy Bitcoin Cash address's payload)."""
    count = -(-8 * len(data) // 5)
    number = int.from_bytes(data, "big") << (5 * count - 8 * len(data))
    digits = mpz(number).digits(32).encode() if number else b""
    return digits.rjust(count, b"0").translate(_FROM_BASE32_DIGITS)


def cashaddr_decode(prefix: str, payload_text: str, *, start: int = 1) -> tuple[int, bytes]:
    """(version byte, hash) of the part after `prefix:` of a CashAddr address, which starts
    at position `start` of what was written."""
    if payload_text.lower() != payload_text and payload_text.upper() != payload_text:
        raise EncodingError(Problem.BAD_CASE, "mixes upper and lower case")
    payload_text = payload_text.lower()
    values = _five_bit_values(payload_text, "CashAddr base32", start)
    if len(payload_text) != 42:  # 160-bit hashes: 34 data characters and 8 of checksum
        raise EncodingError(
            Problem.BAD_LENGTH,
            f"{counted(len(payload_text), 'character')} after the prefix; 42 expected",
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

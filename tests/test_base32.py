"""The base32 encodings against their specifications' own test vectors: BIP-173 and BIP-350
(segwit) and the CashAddr specification; and the fast checksums and conversions against
BIP-173's reference implementation, the bech32 package."""

import bech32
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from feed.base32 import _bech32_polymod as bech32_polymod
from feed.base32 import _cashaddr_polymod as cashaddr_polymod
from feed.base32 import _from_five_bit as from_five_bit
from feed.base32 import _to_five_bit as to_five_bit
from feed.base32 import cashaddr_decode, cashaddr_encode, segwit_decode
from feed.encodings import EncodingError, Problem, base58check_decode

VALID_SEGWIT = [
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "bc", 0, 20),
    ("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", "tb", 0, 32),
    ("bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y", "bc", 1, 40),
    ("BC1SW50QGDZ25J", "bc", 16, 2),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "bc", 2, 16),
    ("tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c", "tb", 1, 32),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "bc", 1, 32),
]

INVALID_SEGWIT = [
    # bech32 checksum where bech32m is required, and the reverse
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", Problem.BAD_CHECKSUM),
    ("tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf", Problem.BAD_CHECKSUM),
    ("BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL", Problem.BAD_CHECKSUM),
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", Problem.BAD_CHECKSUM),
    ("tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47", Problem.BAD_CHECKSUM),
    ("bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4", Problem.BAD_CHARACTER),
    ("BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R", Problem.UNKNOWN_PREFIX),
    ("bc1pw5dgrnzv", Problem.BAD_LENGTH),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",
        Problem.BAD_LENGTH,
    ),
    ("BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", Problem.BAD_LENGTH),
    ("tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq", Problem.BAD_CASE),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf", Problem.BAD_LENGTH),
    # prefixes of characters outside 33-126, one past what a byte holds once expanded
    ("\x7f1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", Problem.BAD_CHARACTER),
    ("\u20001qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", Problem.BAD_CHARACTER),
    ("tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j", Problem.BAD_LENGTH),
    ("bc1gmk9yu", Problem.BAD_LENGTH),
]

# The CashAddr specification's table: one hash as a legacy and as a CashAddr (bitcoincash:)
# address.
CASHADDR_PAIRS = [
    ("1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu", "qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a"),
    ("1KXrWXciRDZUpQwQmuM1DbwsKDLYAYsVLR", "qr95sy3j9xwd2ap32xkykttr4cvcu7as4y0qverfuy"),
    ("16w1D5WRVKJuZUsSRzdLp9w3YGcgoxDXb", "qqq3728yw0y47sqn6l2na30mcw6zm78dzqre909m2r"),
    ("3CWFddi6m4ndiGyKqzYvsFYagqDLPVMTzC", "ppm2qsznhks23z7629mms6s4cwef74vcwvn0h829pq"),
    ("3LDsS579y7sruadqu11beEJoTjdFiFCdX4", "pr95sy3j9xwd2ap32xkykttr4cvcu7as4yc93ky28e"),
    ("31nwvkZwyPdgzjBJZXfDmSWsC4ZLKpYyUw", "pqq3728yw0y47sqn6l2na30mcw6zm78dzq5ucqzc37"),
]


@pytest.mark.parametrize(("address", "hrp", "version", "size"), VALID_SEGWIT)
def test_valid_segwit_vectors_decode(address: str, hrp: str, version: int, size: int) -> None:
    assert segwit_decode(address)[0] == hrp
    assert segwit_decode(address)[1] == version
    assert len(segwit_decode(address)[2]) == size


@pytest.mark.parametrize(("address", "problem"), INVALID_SEGWIT)
def test_invalid_segwit_vectors_are_refused_for_the_right_reason(
    address: str, problem: Problem
) -> None:
    with pytest.raises(EncodingError) as caught:
        segwit_decode(address)
    assert caught.value.problem is problem


@pytest.mark.parametrize(("legacy", "cashaddr"), CASHADDR_PAIRS)
def test_cashaddr_carries_the_same_hash_as_the_legacy_address(legacy: str, cashaddr: str) -> None:
    payload = base58check_decode(legacy, 21)
    version = 0 if payload[0] == 0 else 8
    assert cashaddr_encode("bitcoincash", version, payload[1:]) == "bitcoincash:" + cashaddr
    assert cashaddr_decode("bitcoincash", cashaddr.upper()) == (version, payload[1:])


@given(
    st.sampled_from(["bitcoincash", "bchtest"]),
    st.sampled_from([0, 8]),
    st.binary(min_size=20, max_size=20),
)
def test_cashaddr_encoding_decodes_to_what_was_encoded(
    prefix: str, version: int, hash160: bytes
) -> None:
    encoded = cashaddr_encode(prefix, version, hash160)
    assert encoded.startswith(f"{prefix}:")
    assert cashaddr_decode(prefix, encoded.partition(":")[2]) == (version, hash160)


def test_cashaddr_checksum_covers_the_prefix() -> None:
    with pytest.raises(EncodingError) as caught:
        cashaddr_decode("bchtest", CASHADDR_PAIRS[0][1])
    assert caught.value.problem is Problem.BAD_CHECKSUM


# Prefixes up to BIP-173's 83 characters and runs of values longer than any address: the
# checksum reads a run by table in parts of at most 90 values.
@given(
    st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=83),
    st.binary(max_size=300),
)
@example(hrp="a" * 83, data=bytes(range(256)))
def test_bech32_checksum_agrees_with_bip173(hrp: str, data: bytes) -> None:
    values = [byte & 0x1F for byte in data]
    assert bech32_polymod(hrp, bytes(values)) == bech32.bech32_polymod(
        bech32.bech32_hrp_expand(hrp) + values
    )


def _cashaddr_spec_polymod(values: list[int]) -> int:
    """The CashAddr specification's PolyMod, one value and one generator at a time."""
    checksum = 1
    for value in values:
        top = checksum >> 35
        checksum = ((checksum & 0x07FFFFFFFF) << 5) ^ value
        for bit, generator in enumerate(
            (0x98F2BC8E61, 0x79B76D99E2, 0xF33E5FB3C4, 0xAE2EABE2A8, 0x1E4F43E470)
        ):
            if top >> bit & 1:
                checksum ^= generator
    return checksum ^ 1


@given(st.sampled_from(["bitcoincash", "bchtest", "bchreg"]), st.binary(max_size=300))
@example(prefix="bitcoincash", data=bytes(range(256)))
def test_cashaddr_checksum_agrees_with_the_specification(prefix: str, data: bytes) -> None:
    values = [byte & 0x1F for byte in data]
    prefix_values = [ord(character) & 0x1F for character in prefix]
    assert cashaddr_polymod(prefix, bytes(values)) == _cashaddr_spec_polymod(
        [*prefix_values, 0, *values]
    )


@given(st.lists(st.integers(0, 31), max_size=100))
def test_five_bit_values_to_bytes_agree_with_bip173(values: list[int]) -> None:
    reference = bech32.convertbits(values, 5, 8, False)
    assert from_five_bit(bytes(values)) == (None if reference is None else bytes(reference))


@given(st.binary(max_size=70))
def test_bytes_to_five_bit_values_agree_with_bip173(data: bytes) -> None:
    assert list(to_five_bit(data)) == bech32.convertbits(data, 8, 5, True)

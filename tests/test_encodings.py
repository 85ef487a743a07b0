"""The base58 and hex encodings: EIP-55's examples, Ethereum's Keccak, base58check and
Monero's blocks, the fast base58 codec against the reference it replaces, the base58 package,
and base58check in Rust, which screening reads, against that codec and the checksum."""

import base58
import pytest
from hypothesis import given
from hypothesis import strategies as st

from feed.encodings import (
    BITCOIN_ALPHABET,
    RIPPLE_ALPHABET,
    EncodingError,
    Problem,
    base58_bytes,
    base58check_bitcoin,
    base58check_decode,
    base58check_encode,
    checksum_matches,
    eip55,
    keccak256,
    monero_base58_decode,
)

EIP55_EXAMPLES = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]


@pytest.mark.parametrize("address", EIP55_EXAMPLES)
def test_eip55_examples(address: str) -> None:
    assert eip55(address[2:].lower()) == address


def test_keccak256_is_ethereum_keccak_not_sha3() -> None:
    assert keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )


@given(st.text(alphabet="0123456789abcdef", min_size=40, max_size=40))
def test_eip55_agrees_with_its_definition(hex_digits: str) -> None:
    digest = keccak256(hex_digits.encode()).hex()
    by_character = "".join(
        character.upper() if int(nibble, 16) >= 8 else character
        for character, nibble in zip(hex_digits, digest, strict=False)
    )
    assert eip55(hex_digits) == "0x" + by_character


def test_base58check_round_trip_and_damage() -> None:
    address = base58check_encode(bytes(range(21)))
    assert base58check_decode(address, 21) == bytes(range(21))
    with pytest.raises(EncodingError) as caught:
        base58check_decode(address[:-1], 21)
    assert caught.value.problem is Problem.BAD_LENGTH
    with pytest.raises(EncodingError) as caught:
        base58check_decode(address.replace(address[5], "0"), 21)
    assert caught.value.problem is Problem.BAD_CHARACTER
    assert "position 6" in str(caught.value)


def test_monero_base58_blocks() -> None:
    # 1 byte encodes in 2 characters, 8 bytes in 11: "11" is the zero byte.
    assert monero_base58_decode("11") == b"\x00"
    assert monero_base58_decode("1" * 11) == bytes(8)
    with pytest.raises(EncodingError) as caught:
        monero_base58_decode("1" * 12)
    assert caught.value.problem is Problem.BAD_LENGTH
    with pytest.raises(EncodingError) as caught:
        monero_base58_decode("zz")  # 58 * 58 - 1 does not fit in one byte
    assert caught.value.problem is Problem.BAD_CHARACTER


@given(st.sampled_from([BITCOIN_ALPHABET, RIPPLE_ALPHABET]), st.data())
def test_base58_decoding_agrees_with_the_base58_package(alphabet: str, data: st.DataObject) -> None:
    zeros = data.draw(st.integers(0, 4))
    text = alphabet[0] * zeros + data.draw(st.text(alphabet, max_size=60))
    assert base58_bytes(text, alphabet) == base58.b58decode(text, alphabet=alphabet.encode())


@given(st.sampled_from([BITCOIN_ALPHABET, RIPPLE_ALPHABET]), st.data())
def test_base58_decoding_refuses_any_character_outside_the_alphabet(
    alphabet: str, data: st.DataObject
) -> None:
    text = data.draw(st.text(alphabet, max_size=40))
    position = data.draw(st.integers(0, len(text)))
    foreign = data.draw(st.characters().filter(lambda character: character not in alphabet))
    assert base58_bytes(text[:position] + foreign + text[position:], alphabet) is None


@pytest.mark.parametrize("text", ["1A 2b", " 1A2b", "1A2b\n", "\t1A2b", "+1A2b", "-1A2b", "1A_2b"])
def test_base58_decoding_refuses_what_big_number_parsers_skip_or_read_as_a_sign(
    text: str,
) -> None:
    assert base58_bytes(text, BITCOIN_ALPHABET) is None


def test_base58_decoding_refuses_a_lone_surrogate() -> None:
    assert base58_bytes("1\ud800", BITCOIN_ALPHABET) is None


def _checked_payload(text: str) -> bytes | None:
    """The reference for base58check_bitcoin: our decoder, then the checksum."""
    raw = base58_bytes(text, BITCOIN_ALPHABET)
    return raw[:-4] if raw is not None and len(raw) >= 4 and checksum_matches(raw) else None


@given(st.integers(0, 3), st.binary(max_size=40), st.data())
def test_base58check_in_rust_agrees_with_our_decoder_and_checksum(
    zeros: int, payload: bytes, data: st.DataObject
) -> None:
    text = base58check_encode(bytes(zeros) + payload)
    assert base58check_bitcoin(text) == bytes(zeros) + payload == _checked_payload(text)
    # Damaged: a character replaced by any (a lone surrogate too), or cut short.
    position = data.draw(st.integers(0, len(text) - 1))
    other = data.draw(st.one_of(st.sampled_from(BITCOIN_ALPHABET), st.characters()))
    for damaged in (text[:position] + other + text[position + 1 :], text[:position]):
        assert base58check_bitcoin(damaged) == _checked_payload(damaged), damaged


@pytest.mark.parametrize("text", ["", "1", " 1A2b", "1A2b\n", "1\ud800", "0OIl", "é"])
def test_base58check_in_rust_refuses_what_is_no_base58(text: str) -> None:
    assert base58check_bitcoin(text) is None

"""Chains and their addresses: which chain a name means, whether an address is valid on it,
and its canonical form. Pure.

Canonical forms (DESIGN.md): bech32, bech32m and CashAddr in lower case, CashAddr with its
prefix (legacy Bitcoin Cash addresses become CashAddr); EVM addresses shown EIP-55 and compared
in lower case (`Address.key`); base58 is never case-folded. The dedup key of a flagged address
is (chain, key), never (ticker, address)."""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from feed.encodings import (
    RIPPLE_ALPHABET,
    EncodingError,
    Problem,
    base58_decode,
    base58check_decode,
    bech32_plain_decode,
    cashaddr_decode,
    cashaddr_encode,
    eip55,
    monero_base58_decode,
    monero_checked,
    segwit_decode,
)
from feed.errors import InvalidAddress

HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
SEGWIT_KINDS = {(0, 20): "p2wpkh", (0, 32): "p2wsh", (1, 32): "p2tr"}
CASHADDR_KINDS = {0: "p2pkh", 8: "p2sh"}


class Family(StrEnum):
    UTXO = "utxo"
    BITCOIN_CASH = "bitcoin-cash"
    EVM = "evm"
    TRON = "tron"
    MONERO = "monero"
    SOLANA = "solana"
    XRPL = "xrpl"
    BECH32 = "bech32"


@dataclass(frozen=True)
class Chain:
    key: str
    name: str
    caip2: str
    family: Family
    coin: str
    prefixes: tuple[str, ...] = ()
    testnet: bool = False
    versions: Mapping[bytes, str] = field(default_factory=dict)
    hrp: str = ""


@dataclass(frozen=True)
class Address:
    chain: Chain
    canonical: str
    kind: str
    # XRP destination tag: it says which customer of an exchange, not which account.
    tag: int | None = None

    @property
    def key(self) -> str:
        """The form compared when screening: EVM hex without case, everything else as is."""
        return self.canonical.lower() if self.chain.family is Family.EVM else self.canonical

    @property
    def domain(self) -> str:
        """Where the same key means the same holder: one account is one key on every EVM
        chain, so EVM addresses are screened across them all; other chains stand alone."""
        return "eip155" if self.chain.family is Family.EVM else self.chain.caip2


def _utxo(
    key: str, name: str, genesis: str, coin: str, prefixes: tuple[str, ...],
    versions: dict[int, str], hrp: str = "", *, testnet: bool = False, width: int = 1,
) -> Chain:  # fmt: skip
    return Chain(
        key, name, f"bip122:{genesis}", Family.UTXO, coin, prefixes, testnet,
        {number.to_bytes(width, "big"): kind for number, kind in versions.items()}, hrp,
    )  # fmt: skip


def _evm(key: str, name: str, chain_id: int, *, testnet: bool = False) -> Chain:
    return Chain(key, name, f"eip155:{chain_id}", Family.EVM, "evm", ("0x",), testnet)


BITCOIN_TEST = {0x6F: "p2pkh", 0xC4: "p2sh"}
CHAINS: tuple[Chain, ...] = (
    _utxo("bitcoin", "Bitcoin", "000000000019d6689c085ae165831e93", "bitcoin",
          ("1", "3", "bc1"), {0x00: "p2pkh", 0x05: "p2sh"}, "bc"),
    _utxo("bitcoin-testnet", "Bitcoin testnet", "000000000933ea01ad0ee984209779ba", "bitcoin",
          ("m", "n", "2", "tb1"), BITCOIN_TEST, "tb", testnet=True),
    _utxo("bitcoin-regtest", "Bitcoin regtest", "0f9188f13cb7b2c71f2a335e3a4fc328", "bitcoin",
          ("m", "n", "2", "bcrt1"), BITCOIN_TEST, "bcrt", testnet=True),
    _utxo("litecoin", "Litecoin", "12a765e31ffd4059bada1e25190f6e98", "litecoin",
          ("L", "M", "3", "ltc1"), {0x30: "p2pkh", 0x32: "p2sh", 0x05: "p2sh"}, "ltc"),
    _utxo("litecoin-testnet", "Litecoin testnet", "4966625a4b2851d9fdee139e56211a0d", "litecoin",
          ("m", "n", "Q", "2", "tltc1"), {0x6F: "p2pkh", 0x3A: "p2sh", 0xC4: "p2sh"}, "tltc",
          testnet=True),
    _utxo("dogecoin", "Dogecoin", "1a91e3dace36e2be3bf030a65679fe82", "dogecoin",
          ("D", "A", "9"), {0x1E: "p2pkh", 0x16: "p2sh"}),
    _utxo("dogecoin-testnet", "Dogecoin testnet", "bb0a78264637406b6360aad926284d54", "dogecoin",
          ("n", "2"), {0x71: "p2pkh", 0xC4: "p2sh"}, testnet=True),
    _utxo("dash", "Dash", "00000ffd590b1485b3caadc19b22e637", "dash",
          ("X", "7"), {0x4C: "p2pkh", 0x10: "p2sh"}),
    _utxo("dash-testnet", "Dash testnet", "00000bafbc94add76cb75e2ec9289483", "dash",
          ("y", "8", "9"), {0x8C: "p2pkh", 0x13: "p2sh"}, testnet=True),
    _utxo("zcash", "Zcash", "00040fe8ec8471911baa1db1266ea15d", "zcash",
          ("t1", "t3"), {0x1CB8: "p2pkh", 0x1CBD: "p2sh"}, width=2),
    _utxo("zcash-testnet", "Zcash testnet", "05a60a92d99d85997cce3b87616c089f", "zcash",
          ("tm", "t2"), {0x1D25: "p2pkh", 0x1CBA: "p2sh"}, testnet=True, width=2),
    # Bitcoin Cash shares Bitcoin's genesis block; its chain id is the block where it split off.
    Chain("bitcoin-cash", "Bitcoin Cash", "bip122:000000000000000000651ef99cb9fcbe",
          Family.BITCOIN_CASH, "bitcoin-cash", ("bitcoincash:", "q", "p", "1", "3"), False,
          {b"\x00": "p2pkh", b"\x05": "p2sh"}, "bitcoincash"),
    Chain("bitcoin-cash-testnet", "Bitcoin Cash testnet", "bip122:00000000000e38fef93ed9582a7df438",
          Family.BITCOIN_CASH, "bitcoin-cash", ("bchtest:", "q", "p", "m", "n", "2"), True,
          {b"\x6f": "p2pkh", b"\xc4": "p2sh"}, "bchtest"),
    _evm("ethereum", "Ethereum", 1),
    _evm("ethereum-sepolia", "Ethereum Sepolia", 11155111, testnet=True),
    _evm("ethereum-classic", "Ethereum Classic", 61),
    _evm("bsc", "BNB Smart Chain", 56),
    _evm("polygon", "Polygon", 137),
    _evm("arbitrum", "Arbitrum One", 42161),
    _evm("optimism", "OP Mainnet", 10),
    _evm("base", "Base", 8453),
    _evm("avalanche", "Avalanche C-Chain", 43114),
    Chain("tron", "Tron", "tron:0x2b6653dc", Family.TRON, "tron", ("T",)),
    Chain("tron-nile", "Tron Nile testnet", "tron:0xcd8690dc", Family.TRON, "tron", ("T",), True),
    Chain("tron-shasta", "Tron Shasta testnet", "tron:0x94a9059e", Family.TRON, "tron", ("T",),
          True),
    Chain("monero", "Monero", "monero:418015bb9ae982a1975da7d79277c270", Family.MONERO, "monero",
          ("4", "8"), False, {b"\x12": "standard", b"\x13": "integrated", b"\x2a": "subaddress"}),
    Chain("monero-testnet", "Monero testnet", "monero:48ca7cd3c8de5b6a4d53d2861fbdaedc",
          Family.MONERO, "monero", ("9", "A", "B"), True,
          {b"\x35": "standard", b"\x36": "integrated", b"\x3f": "subaddress"}),
    Chain("monero-stagenet", "Monero stagenet", "monero:76ee3cc98646292206cd3e86f74d88b4",
          Family.MONERO, "monero", ("5", "7"), True,
          {b"\x18": "standard", b"\x19": "integrated", b"\x24": "subaddress"}),
    Chain("solana", "Solana", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", Family.SOLANA, "solana"),
    Chain("solana-devnet", "Solana devnet", "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
          Family.SOLANA, "solana", (), True),
    Chain("solana-testnet", "Solana testnet", "solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z",
          Family.SOLANA, "solana", (), True),
    Chain("xrp", "XRP Ledger", "xrpl:0", Family.XRPL, "xrp", ("r", "X")),
    Chain("xrp-testnet", "XRP Ledger testnet", "xrpl:1", Family.XRPL, "xrp", ("r", "T"), True),
    Chain("bnb-beacon", "BNB Beacon Chain", "cosmos:Binance-Chain-Tigris", Family.BECH32, "bnb",
          ("bnb1",), False, {}, "bnb"),
)  # fmt: skip

TICKERS: dict[str, tuple[str, ...]] = {
    "btc": ("bitcoin",), "xbt": ("bitcoin",), "ltc": ("litecoin",), "doge": ("dogecoin",),
    "xdg": ("dogecoin",), "dash": ("dash",), "zec": ("zcash",), "bch": ("bitcoin-cash",),
    "eth": ("ethereum",), "etc": ("ethereum-classic",), "bnb": ("bnb-beacon", "bsc"),
    "bsc": ("bsc",), "matic": ("polygon",), "pol": ("polygon",), "arb": ("arbitrum",),
    "op": ("optimism",), "avax": ("avalanche",), "trx": ("tron",), "xmr": ("monero",),
    "sol": ("solana",), "xrp": ("xrp",),
    # Stablecoins live on several chains; the address itself tells which.
    "usdt": ("tron", "ethereum", "bitcoin"), "usdc": ("ethereum", "solana", "tron"),
    # Token standards name their chain.
    "erc20": ("ethereum",), "trc20": ("tron",), "bep20": ("bsc",), "spl": ("solana",),
    "omni": ("bitcoin",),
}  # fmt: skip
BY_KEY = {chain.key: chain for chain in CHAINS}
BY_NAME = {name.casefold(): chain for chain in CHAINS for name in (chain.key, chain.name)}
BY_CAIP2 = {chain.caip2: chain for chain in CHAINS}
# "USDT-TRC20", "USDT_ERC20", "USDT@tron", "USDT on Tron", "USDT (Ethereum)"
TOKEN_ON_CHAIN = re.compile(r"^[\w.]+\s*(?:[-_@/]|\s+on\s+|\()\s*([^()]+?)\)?$", re.IGNORECASE)
EVM_CAIP2 = re.compile(r"^eip155:([1-9][0-9]{0,18})$")


def resolve_chains(name: str) -> tuple[Chain, ...]:
    """The chains a name may mean: a key, name, CAIP-2 id or ticker, or a token on a chain."""
    text = name.strip()
    if text in BY_CAIP2:
        return (BY_CAIP2[text],)
    if evm := EVM_CAIP2.match(text):
        return (_evm(text, f"EVM chain {evm.group(1)}", int(evm.group(1))),)
    folded = text.casefold()
    if folded in BY_NAME:
        return (BY_NAME[folded],)
    if folded in TICKERS:
        return tuple(BY_KEY[key] for key in TICKERS[folded])
    if token := TOKEN_ON_CHAIN.match(text):
        return resolve_chains(token.group(1))
    raise InvalidAddress(
        Problem.UNKNOWN_CHAIN,
        f"unknown chain {name!r}: not a supported ticker, chain or CAIP-2 id (see `feed chains`)",
    )


def _decode_utxo(chain: Chain, text: str) -> Address:
    if chain.hrp and text.lower().startswith(chain.hrp + "1"):
        hrp, version, program = segwit_decode(text)
        if hrp != chain.hrp:
            raise EncodingError(Problem.UNKNOWN_PREFIX, f"prefix {hrp!r} is not {chain.hrp!r}")
        kind = SEGWIT_KINDS.get((version, len(program)), f"witness-v{version}")
        return Address(chain, text.lower(), kind)
    return Address(chain, text, _base58_kind(chain, text))


def _base58_kind(chain: Chain, text: str) -> str:
    width = len(next(iter(chain.versions)))
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
        version, _ = cashaddr_decode(chain.hrp, rest)
        if version not in CASHADDR_KINDS:
            raise EncodingError(Problem.UNSUPPORTED, f"CashAddr type {version >> 3} unknown")
        return Address(chain, f"{chain.hrp}:{rest.lower()}", CASHADDR_KINDS[version])
    kind = _base58_kind(chain, rest)
    version = 0 if kind == "p2pkh" else 8
    hash160 = base58check_decode(rest, 21)[1:]
    return Address(chain, cashaddr_encode(chain.hrp, version, hash160), kind)


def _decode_evm(chain: Chain, text: str) -> Address:
    if not text.startswith("0x"):
        raise EncodingError(Problem.UNKNOWN_PREFIX, "EVM addresses start with 0x")
    digits = text[2:]
    if len(digits) != 40:
        raise EncodingError(Problem.BAD_LENGTH, f"{len(digits)} hex digits; 40 expected")
    for position, character in enumerate(digits, start=3):
        if character not in HEX_DIGITS:
            raise EncodingError(
                Problem.BAD_CHARACTER, f"character {character!r} at position {position} is not hex"
            )
    checksummed = eip55(digits.lower())
    if digits not in (digits.lower(), digits.upper()) and text != checksummed:
        raise EncodingError(Problem.BAD_CASE, "mixed case fails the EIP-55 checksum")
    return Address(chain, checksummed, "account")


def _decode_tron(chain: Chain, text: str) -> Address:
    if len(text) != 34:
        raise EncodingError(Problem.BAD_LENGTH, f"{len(text)} characters; Tron addresses have 34")
    if base58check_decode(text, 21)[0] != 0x41:
        raise EncodingError(Problem.UNKNOWN_PREFIX, "Tron addresses start with version 0x41")
    return Address(chain, text, "account")


def _decode_monero(chain: Chain, text: str) -> Address:
    if len(text) not in (95, 106):
        raise EncodingError(Problem.BAD_LENGTH, f"{len(text)} characters; 95 or 106 expected")
    data = monero_base58_decode(text)
    kind = chain.versions.get(data[:1])
    if kind is None:
        raise EncodingError(Problem.UNKNOWN_PREFIX, f"network byte 0x{data[:1].hex()} unknown")
    expected = 77 if kind == "integrated" else 69
    if len(data) != expected:
        raise EncodingError(
            Problem.BAD_LENGTH, f"decodes to {len(data)} bytes; {expected} expected"
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
            Problem.BAD_LENGTH, f"{len(text)} characters; {len(chain.hrp) + 39} expected"
        )
    hrp, payload = bech32_plain_decode(text)
    if hrp != chain.hrp:
        raise EncodingError(Problem.UNKNOWN_PREFIX, f"prefix {hrp!r} is not {chain.hrp!r}")
    if len(payload) != 20:
        raise EncodingError(Problem.BAD_LENGTH, f"{len(payload)} bytes; 20 expected")
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


def _has_prefix(chain: Chain, text: str) -> bool:
    return not chain.prefixes or text.startswith(chain.prefixes) or (
        text.lower().startswith(tuple(p for p in chain.prefixes if p[-1] in "1:"))
    )  # fmt: skip


def _decode(chain: Chain, text: str) -> Address:
    if not _has_prefix(chain, text):
        raise EncodingError(
            Problem.UNKNOWN_PREFIX,
            f"{chain.name} addresses start with {' or '.join(chain.prefixes)}",
        )
    return DECODERS[chain.family](chain, text)


def detect(text: str) -> list[Address]:
    """Every reading of `text` as an address of a known chain."""
    text = text.strip()
    found = []
    for chain in CHAINS:
        try:
            found.append(_decode(chain, text))
        except EncodingError:
            continue
    return found


def screening_readings(text: str) -> list[Address]:
    """One reading of `text` per place it is screened (Address.domain): every EVM chain is one
    place, named by the first EVM chain that reads it."""
    distinct: dict[tuple[str, str], Address] = {}
    for address in detect(text):
        distinct.setdefault((address.domain, address.key), address)
    return list(distinct.values())


def parse_address(text: str, chain: str | None = None) -> Address:
    """The address `text` on `chain` (a name, ticker or CAIP-2 id), or on the one chain it can
    only belong to. Raises InvalidAddress saying what is wrong."""
    text = text.strip()
    if not text:
        raise InvalidAddress(Problem.BAD_LENGTH, "address is empty")
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
    readings = detect(text)
    mainnet = [address for address in readings if not address.chain.testnet]
    readings = mainnet or readings
    if len(readings) == 1:
        return readings[0]
    if readings:
        names = ", ".join(address.chain.key for address in readings)
        raise InvalidAddress(Problem.AMBIGUOUS, f"{text} is valid on several chains: {names}")
    failures = [
        (chain, _failure(chain, text))
        for chain in CHAINS
        if chain.prefixes and _has_prefix(chain, text)
    ]
    if len({chain.coin for chain, _ in failures}) != 1:
        raise InvalidAddress(Problem.UNKNOWN_PREFIX, f"{text} is no address of a known chain")
    return _explain(text, failures[:1])


def _failure(chain: Chain, text: str) -> EncodingError:
    try:
        _decode(chain, text)
    except EncodingError as error:
        return error
    raise AssertionError("only called for text that does not decode")


def _explain(text: str, failures: list[tuple[Chain, EncodingError]]) -> Address:
    """Raise the most useful error for `text`, which no chain in `failures` accepted."""
    named = [chain for chain, _ in failures]
    readings = detect(text)
    for chain in named:
        other_network = [a.chain for a in readings if a.chain.coin == chain.coin]
        if other_network:
            raise InvalidAddress(
                Problem.WRONG_NETWORK,
                f"{text} is a {other_network[0].name} address, not {chain.name}",
            )
    chain, error = next(
        ((c, e) for c, e in failures if e.problem is not Problem.UNKNOWN_PREFIX), failures[0]
    )
    if len(failures) > 1 and error.problem is Problem.UNKNOWN_PREFIX:
        message = f"not a {' or '.join(c.name for c in named)} address"
    else:
        message = f"not a valid {chain.name} address: {error.message}"
    if readings:
        message += f"; it reads as a {readings[0].chain.name} address"
    raise InvalidAddress(error.problem, f"{text}: {message}")

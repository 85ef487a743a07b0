"""The chains whose addresses are validated: their CAIP-2 ids, address formats (version bytes,
human-readable parts, prefixes) and the names, tickers and token standards that mean them.
Pure data and lookups."""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from feed.encodings import Problem
from feed.errors import InvalidAddress


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
    # Where the same address key means the same holder: one account is one key on every EVM
    # chain, so EVM addresses are screened across them all; other chains stand alone.
    domain: str = field(init=False, repr=False, compare=False)
    # Prefixes that end in a separator (bech32 "1", CashAddr ":") match in either case.
    caseless_prefixes: tuple[str, ...] = field(init=False, repr=False, compare=False)
    # Bytes of version before the hash in a base58check address (two on Zcash, else one).
    version_width: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:  # derived once: reading a text asks them of every chain
        object.__setattr__(self, "domain", "eip155" if self.family is Family.EVM else self.caip2)
        caseless = tuple(prefix for prefix in self.prefixes if prefix[-1] in "1:")
        object.__setattr__(self, "caseless_prefixes", caseless)
        object.__setattr__(self, "version_width", len(next(iter(self.versions), b"")))


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
    _utxo("verge", "Verge", "00000fc63692467faeb20cdb3b53200d", "verge",
          ("D", "E"), {0x1E: "p2pkh", 0x21: "p2sh"}),
    _utxo("dash", "Dash", "00000ffd590b1485b3caadc19b22e637", "dash",
          ("X", "7"), {0x4C: "p2pkh", 0x10: "p2sh"}),
    _utxo("dash-testnet", "Dash testnet", "00000bafbc94add76cb75e2ec9289483", "dash",
          ("y", "8", "9"), {0x8C: "p2pkh", 0x13: "p2sh"}, testnet=True),
    _utxo("zcash", "Zcash", "00040fe8ec8471911baa1db1266ea15d", "zcash",
          ("t1", "t3"), {0x1CB8: "p2pkh", 0x1CBD: "p2sh"}, width=2),
    _utxo("zcash-testnet", "Zcash testnet", "05a60a92d99d85997cce3b87616c089f", "zcash",
          ("tm", "t2"), {0x1D25: "p2pkh", 0x1CBA: "p2sh"}, testnet=True, width=2),
    # Bitcoin Cash and Bitcoin SV share Bitcoin's genesis block: each chain id is the first block
    # only that chain has (478559 and 556767). Bitcoin Cash is the last chain to read a legacy
    # address, as screening's look-up by decoded bytes places its CashAddr form last.
    _utxo("bitcoin-sv", "Bitcoin SV", "000000000000000001d956714215d96f", "bitcoin-sv",
          ("1", "3"), {0x00: "p2pkh", 0x05: "p2sh"}),
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
    "bsv": ("bitcoin-sv",), "xvg": ("verge",),
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
EVM_CAIP2 = re.compile(r"eip155:([1-9][0-9]{0,18})")


def caip2_chain(text: str) -> Chain | None:
    """The chain a CAIP-2 id names, exactly as written; None if it names none supported."""
    if text in BY_CAIP2:
        return BY_CAIP2[text]
    if evm := EVM_CAIP2.fullmatch(text):
        return _evm(text, f"EVM chain {evm.group(1)}", int(evm.group(1)))
    return None


def resolve_chains(name: str) -> tuple[Chain, ...]:
    """The chains a name may mean: a key, name, CAIP-2 id or ticker, or a token on a chain."""
    text = name.strip()
    if (named := caip2_chain(text)) is not None:
        return (named,)
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

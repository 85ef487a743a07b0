"""The sandbox: a server with synthetic data for integrators. Demo organisations with published
credentials (refused by any server that is not a sandbox), a feed of synthetic indicators on
test networks only, and a simulated watchdog that keeps adding, updating, revoking and letting
indicators expire, so the whole life cycle shows within minutes.

Everything random comes from one seeded generator, so a seed gives the same organisations,
addresses and sequence of changes every time; only the timestamps are real."""

import random
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import base58
from bech32 import encode as segwit_encode
from sqlalchemy import delete
from sqlmodel import Session, SQLModel

from feed import accounts
from feed.addresses import Address, parse_address
from feed.encodings import base58check_encode, eip55
from feed.errors import ConfigurationError
from feed.indicators import Flag, build_indicator, next_modified, revoke_indicator
from feed.stix import Category, Tlp, check_object
from feed.store import Store
from feed.tables import Organisation, Role, ServerKey
from feed.versions import Candidate, add_objects

SANDBOX_NAMESPACE = uuid.UUID("5e1d2b0c-8f3a-4c6e-9b7d-2a4f6c8e0b13")
HEADER = "X-Feed-Sandbox"
HEADER_VALUE = "synthetic data and demo credentials; nothing here is real"
FEED_ALIAS = "sandbox"
SYNTHETIC = "SYNTHETIC sandbox indicator: not a real flagged address."


@dataclass(frozen=True)
class DemoOrganisation:
    name: str
    role: Role
    key: accounts.IssuedKey


# Published in the integrator guide; a server that is not a sandbox refuses them.
WATCHDOG = DemoOrganisation(
    "Sandbox Watchdog", Role.WATCHDOG, accounts.IssuedKey("kdemowatchdog", "sandbox-watchdog")
)
EXCHANGES = (
    DemoOrganisation(
        "Sandbox Exchange A", Role.EXCHANGE, accounts.IssuedKey("kdemoexchangea", "sandbox-a")
    ),
    DemoOrganisation(
        "Sandbox Exchange B", Role.EXCHANGE, accounts.IssuedKey("kdemoexchangeb", "sandbox-b")
    ),
)
DEMO_KEY_IDS = frozenset(o.key.key_id for o in (WATCHDOG, *EXCHANGES))


def synthetic_address(rng: random.Random) -> Address:
    """A valid address on a test network, from random bytes: never a real flagged one."""
    kind = rng.choice(("btc-p2pkh", "btc-p2wpkh", "sepolia", "nile", "devnet", "ltc", "doge"))
    hash160 = rng.randbytes(20)
    if kind == "btc-p2wpkh":
        text = segwit_encode("tb", 0, hash160)
        assert text is not None
        return parse_address(text, "bitcoin-testnet")
    if kind == "sepolia":
        return parse_address(eip55(hash160.hex()), "ethereum-sepolia")
    if kind == "devnet":
        return parse_address(
            base58.b58encode(hash160 + rng.randbytes(12)).decode(), "solana-devnet"
        )
    version, chain = {
        "btc-p2pkh": (b"\x6f", "bitcoin-testnet"),
        "nile": (b"\x41", "tron-nile"),
        "ltc": (b"\x6f", "litecoin-testnet"),
        "doge": (b"\x71", "dogecoin-testnet"),
    }[kind]
    return parse_address(base58check_encode(version + hash160), chain)


class Sandbox:
    """The sandbox's data and its simulated watchdog, over one store."""

    def __init__(self, store: Store, *, seed: int, indicators: int, rhythm: float) -> None:
        self.store = store
        self.seed = seed
        self.size = indicators
        self.rhythm = rhythm
        self.lock = threading.Lock()
        self.rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not secrets
        self.live: dict[str, dict[str, Any]] = {}
        self.feed_id = ""
        self.author = ""

    def reset(self) -> None:
        """Back to the seed state: the demo organisations, the feed, the seed indicators."""
        with self.lock, self.store.writing() as session:
            demo_names = {o.name for o in (WATCHDOG, *EXCHANGES)}
            others = [
                o.name for o in accounts.list_organisations(session) if o.name not in demo_names
            ]
            if others:
                raise ConfigurationError(
                    f"refusing to reset a database that holds real organisations ({others[0]}...); "
                    "the sandbox needs a database of its own"
                )
            for table in reversed(SQLModel.metadata.sorted_tables):
                if table.name != ServerKey.__tablename__:
                    session.execute(delete(table))
            watchdog = _organisation(session, WATCHDOG)
            feed, _ = accounts.create_feed(
                session, watchdog, "Sandbox feed (synthetic)", alias=FEED_ALIAS,
                description="Synthetic indicators on test networks, for integration tests.",
            )  # fmt: skip
            for demo in EXCHANGES:
                accounts.grant_feed(session, feed, _organisation(session, demo))
            self.feed_id, self.author = feed.id, watchdog.identity_id
            self.rng = random.Random(self.seed)  # noqa: S311
            self.live = {}
            now = datetime.now(UTC)
            self._publish(session, [self._new(now) for _ in range(self.size)])

    def step(self) -> str:
        """One simulated change: mostly new indicators, some updates, revocations and
        short-lived ones that expire. Returns what it did."""
        with self.lock, self.store.writing() as session:
            now = datetime.now(UTC)
            roll = self.rng.random()
            if roll < 0.15 and self.live:
                previous = self.live.pop(self.rng.choice(sorted(self.live)))
                self._publish(session, [revoke_indicator(previous, now)])
                return f"revoked {previous['id']}"
            if roll < 0.35 and self.live:
                previous = self.live[self.rng.choice(sorted(self.live))]
                changed = {**previous, "confidence": self.rng.randrange(10, 100)}
                changed["modified"] = next_modified(previous, now)
                self._publish(session, [changed])
                return f"updated {changed['id']}"
            expiring = roll < 0.45
            created = self._new(now, lifetime=3 * self.rhythm if expiring else None)
            self._publish(session, [created])
            return f"{'added short-lived' if expiring else 'added'} {created['id']}"

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.rhythm):
            self.step()

    def _new(self, now: datetime, lifetime: float | None = None) -> dict[str, Any]:
        category = self.rng.choice([c for c in Category if c is not Category.SANCTIONS])
        flag = Flag(
            address=synthetic_address(self.rng),
            category=category,
            confidence=self.rng.randrange(30, 100),
            valid_until=None if lifetime is None else now + timedelta(seconds=lifetime),
            description=SYNTHETIC,
            tlp=Tlp.CLEAR,
            source=FEED_ALIAS,
        )
        indicator = build_indicator(flag, self.author, now)
        assert indicator is not None
        return indicator

    def _publish(self, session: Session, values: list[dict[str, Any]]) -> None:
        candidates = []
        for value in values:
            checked = check_object(value, self.author)
            candidates.append(Candidate.of(value, checked=checked))
            if not value.get("revoked") and "valid_until" not in value:
                self.live[value["id"]] = value
        add_objects(session, self.feed_id, candidates)


def _organisation(session: Session, demo: DemoOrganisation) -> Organisation:
    fixed_id = str(uuid.uuid5(SANDBOX_NAMESPACE, demo.name))
    organisation = accounts.create_organisation(
        session, demo.name, demo.role, organisation_id=fixed_id
    )
    accounts.create_key(session, organisation, fixed=demo.key)
    return organisation

"""The data set: synthetic flagged-address indicators on test networks, deterministic for a
seed, by the project's own indicator builder (so every object passes full validation)."""

import random
from datetime import UTC, datetime
from typing import Any

from feed.addresses import Address
from feed.indicators import Flag, build_indicator
from feed.sandbox import synthetic_address
from feed.stix import Category

CATEGORIES = (Category.RANSOMWARE, Category.SANCTIONS, Category.SCAM, Category.CSAM)


def addresses(count: int, seed: int) -> list[Address]:
    """`count` distinct synthetic addresses."""
    rng = random.Random(seed)
    found: dict[tuple[str, str], Address] = {}
    while len(found) < count:
        address = synthetic_address(rng)
        found.setdefault((address.domain, address.key), address)
    return list(found.values())


def indicators(flagged: list[Address], author: str) -> list[dict[str, Any]]:
    """One indicator per address, as a watchdog publishes them."""
    now = datetime.now(UTC)
    built = [
        build_indicator(Flag(address, CATEGORIES[index % len(CATEGORIES)]), author, now)
        for index, address in enumerate(flagged)
    ]
    return [indicator for indicator in built if indicator is not None]

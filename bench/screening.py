"""Screening on the exchange side, which the reference servers do not have: lookups in the
mirror's Python API, by canonical address and by raw text, and `feed screen` over a file.

Raw screening and the mirror's memory are measured in fresh processes (`python -m
bench.screening MODE MIRROR TEXTS`), so that no address starts in the parser's cache: over the
distinct texts of the file (every one decoded), and over its rows in order, where addresses
recur as they do in a stream of payments. The synthetic addresses are of test networks; the
real data sets' addresses, mostly Bitcoin mainnet, are screened too, against a mirror of the
OFAC list's."""

import csv
import gc
import json
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feed.addresses import Address, parse_address, readings_in
from feed.errors import InvalidAddress, counted
from feed.mirror import Mirror
from feed.stix import stix_timestamp

HIT_EXIT = 3  # `feed screen` exits 3 when a row is flagged
FEED = "bench"
DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
OFAC_LISTINGS = DATA / "ofac-sdn-2025-11-19" / "derived_addresses_with_party.csv"
RANSOMWARE_PAYMENTS = DATA / "ransomware-receipts-2024" / "addresses.csv"
# A pass over the real texts takes milliseconds: the rate is the median of many, each by a
# screener loaded anew, so that none starts with a text in its cache.
REAL_PASSES = 21


def build_mirror(path: Path, indicators: list[dict[str, Any]]) -> None:
    with Mirror(path) as mirror:
        mirror.register(FEED, "http://127.0.0.1/", "Bench feed", None)
        watermark = stix_timestamp(datetime.now(UTC))
        for start in range(0, len(indicators), 1000):
            mirror.apply(
                FEED,
                indicators[start : start + 1000],
                watermark=watermark,
                next_token=None,
                next_added_after=None,
            )


def canonical_lookups(
    path: Path, flagged: list[Address], unflagged: list[Address], lookups: int, seed: int
) -> tuple[float, str | None]:
    """Lookups per second of canonical addresses, 1% of them flagged; and a problem, if the
    hits are not the flagged ones."""
    with Mirror(path) as mirror:
        screener = mirror.screener()
    rng = random.Random(seed)
    sample = [
        rng.choice(flagged) if rng.random() < 0.01 else rng.choice(unflagged)
        for _ in range(min(lookups, 100_000))
    ]
    keys = {(address.domain, address.key) for address in flagged}
    expected = sum(1 for address in sample if (address.domain, address.key) in keys)
    rounds = max(1, lookups // len(sample))
    started = time.perf_counter()
    for _ in range(rounds):
        hits = sum(1 for address in sample if screener.matches(address))
    elapsed = time.perf_counter() - started
    problem = None if hits == expected else f"screening: {hits} hits, expected {expected}"
    return rounds * len(sample) / elapsed, problem


def write_texts(path: Path, flagged: list[Address], unflagged: list[Address], rows: int) -> int:
    """A CSV of `rows` addresses as written (EVM ones in lower case, as wallets often show
    them), 1% flagged; returns how many rows are flagged."""
    rng = random.Random(rows)
    hits = 0
    with path.open("w", newline="") as output:
        writer = csv.writer(output)
        writer.writerow(["address"])
        for index in range(rows):
            if rng.random() < 0.01:
                address, hits = rng.choice(flagged), hits + 1
            else:
                address = unflagged[index % len(unflagged)]
            text = address.canonical
            writer.writerow([text.lower() if text.startswith("0x") else text])
    return hits


def real_addresses() -> tuple[list[Address], list[str]]:
    """The OFAC list's addresses, each on the chain its ticker names (the few listings that
    are no address of it, real dirt, left out); and the distinct texts of the list and of the
    ransomware payments that are addresses of some chain."""
    flagged: dict[tuple[str, str], Address] = {}
    texts: list[str] = []
    with OFAC_LISTINGS.open() as listings:
        for listing in csv.DictReader(listings):
            texts.append(listing["address"])
            try:
                address = parse_address(listing["address"], listing["asset"])
            except InvalidAddress:
                continue
            flagged.setdefault((address.domain, address.key), address)
    with RANSOMWARE_PAYMENTS.open() as payments:
        texts += [payment["address"] for payment in csv.DictReader(payments)]
    return list(flagged.values()), [t for t in dict.fromkeys(texts) if readings_in(t)]


def write_real_texts(path: Path, flagged: list[Address], texts: list[str]) -> int:
    """A CSV of the real texts; returns how many of them the reference reads as a flagged
    address on a chain the mirror holds some address of."""
    held = {(address.domain, address.key) for address in flagged}
    domains = frozenset(domain for domain, _ in held)
    with path.open("w", newline="") as output:
        writer = csv.writer(output)
        writer.writerow(["address"])
        writer.writerows([text] for text in texts)
    return sum(
        1
        for text in texts
        if any((a.domain, a.key) in held for a in readings_in(text, domains) or ())
    )


def real_lookups(
    mirror: Path, texts: Path, expected_hits: int
) -> tuple[dict[str, Any], str | None]:
    """The real texts' screening rate in a fresh process; and a problem, if the hits are not
    the flagged ones."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.screening", "real", str(mirror), str(texts)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, Any] = json.loads(completed.stdout)
    hits = figures.pop("real_hits")
    problem = None if hits == expected_hits else f"real: {hits} hits, expected {expected_hits}"
    return figures, problem


def raw_lookups(mirror: Path, texts: Path) -> dict[str, Any]:
    """Raw screening rates, distinct and as a stream, each in a fresh process, and the peak
    memory of a process once it has loaded the mirror's screener."""
    figures: dict[str, Any] = {}
    for mode in ("distinct", "stream"):
        completed = subprocess.run(
            [sys.executable, "-m", "bench.screening", mode, str(mirror), str(texts)],
            check=True,
            capture_output=True,
            text=True,
        )
        figures.update(json.loads(completed.stdout))
    return figures


def screen_file(mirror: Path, texts: Path, expected_hits: int) -> tuple[float, str | None]:
    """Seconds `feed screen` takes over the file, and a problem if its count is wrong."""
    command = [sys.executable, "-m", "feed.cli", "screen", str(texts), "--mirror", str(mirror)]
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    summary = completed.stdout.strip().splitlines()[-1] if completed.stdout.strip() else ""
    if (
        completed.returncode not in (0, HIT_EXIT)
        or f": {counted(expected_hits, 'hit')}," not in summary
    ):
        return elapsed, f"feed screen: exit {completed.returncode}, {summary or completed.stderr}"
    return elapsed, None


def _peak_megabytes() -> float:
    status = Path("/proc/self/status").read_text()
    peak = next(line for line in status.splitlines() if line.startswith("VmHWM"))
    return int(peak.split()[1]) / 1024


def _real_passes(mirror: Path, texts: list[str]) -> dict[str, Any]:
    seconds = []
    hits = 0
    for _ in range(REAL_PASSES):
        with Mirror(mirror) as opened:
            screener = opened.screener()
        gc.collect()
        started = time.perf_counter()
        hits = sum(1 for text in texts if screener.screen(text))
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    return {"real_per_s": len(texts) / median, "real_distinct": len(texts), "real_hits": hits}


def _texts(path: Path) -> list[str]:
    with path.open() as source:
        return [row["address"] for row in csv.DictReader(source)]


def _fresh_process(mode: str, mirror: Path, texts: Path) -> dict[str, Any]:
    if mode == "real":
        return _real_passes(mirror, _texts(texts))
    with Mirror(mirror) as opened:
        screener = opened.screener()
    holding = _peak_megabytes()  # before the benchmark's own million rows are read in
    rows = _texts(texts)
    screened = list(dict.fromkeys(rows)) if mode == "distinct" else rows
    # What loading the mirror and the file left is collected now, not in the timed loop: its
    # first passes over those objects took a seventh of the distinct texts' time.
    gc.collect()
    started = time.perf_counter()
    for text in screened:
        screener.screen(text)
    elapsed = time.perf_counter() - started
    if mode == "distinct":
        return {"raw_distinct_per_s": len(screened) / elapsed, "raw_distinct": len(screened)}
    return {"raw_stream_per_s": len(screened) / elapsed, "mirror_peak_mb": holding}


if __name__ == "__main__":
    print(json.dumps(_fresh_process(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))))

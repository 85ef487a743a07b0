"""Screening on the exchange side, which the reference servers do not have: lookups in the
mirror's Python API, by canonical address and by raw text, and `feed screen` over a file.

Raw screening and the mirror's memory are measured in fresh processes (`python -m
bench.screening MODE MIRROR TEXTS`), so that no address starts in the parser's cache: over the
distinct texts of the file (every one decoded), and over its rows in order, where addresses
recur as they do in a stream of payments."""

import csv
import gc
import json
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feed.addresses import Address
from feed.errors import counted
from feed.mirror import Mirror
from feed.stix import stix_timestamp

HIT_EXIT = 3  # `feed screen` exits 3 when a row is flagged
FEED = "bench"


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


def _fresh_process(mode: str, mirror: Path, texts: Path) -> dict[str, Any]:
    with Mirror(mirror) as opened:
        screener = opened.screener()
    holding = _peak_megabytes()  # before the benchmark's own million rows are read in
    with texts.open() as source:
        rows = [row["address"] for row in csv.DictReader(source)]
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

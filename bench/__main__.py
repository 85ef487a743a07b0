"""python -m bench: run the workload against this server and the reference servers, print a
table of figures, ratios and targets, and optionally write the same as JSON."""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import psycopg

from bench import screening
from bench.dataset import addresses, indicators
from bench.reads import (
    check_read,
    check_served,
    deep_pages,
    read_client,
    read_parallel,
    read_raw,
    read_raw_bounded,
)
from bench.references import medallion, opentaxii
from bench.report import machine, table
from bench.servers import Endpoint, feed_serve, feed_server, rss_megabytes
from bench.workload import Figures, get_by_id, incremental_poll, ingest
from feed.stix import stix_timestamp

REFERENCE_AUTHOR = "identity--0b5e1c7a-3f4d-4e8a-9c2b-6d7e8f9a0b1c"
POLL_OBJECTS = 100


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--objects", type=int, default=2000, help="indicators to ingest")
    parser.add_argument("--envelope", type=int, default=1000, help="objects per POST")
    parser.add_argument("--page-size", type=int, default=1000, help="objects per page read")
    parser.add_argument("--clients", type=int, default=2, help="concurrent posting clients")
    parser.add_argument("--workers", type=int, default=2, help="processes of `feed serve`")
    parser.add_argument(
        "--servers",
        default="sqlite,postgresql,medallion,opentaxii",
        help="comma-separated: sqlite and postgresql (this server on each), medallion, opentaxii",
    )
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument(
        "--venvs",
        type=Path,
        default=Path.home() / ".cache" / "feed-bench",
        help="where the reference servers are installed",
    )
    parser.add_argument(
        "--scaling-seconds",
        type=float,
        default=5.0,
        help="how long --workers readers read from 1 and from --workers processes (0: skip)",
    )
    parser.add_argument("--get-samples", type=int, default=300)
    parser.add_argument(
        "--polls", type=int, default=100, help=f"polls, each of {POLL_OBJECTS} new objects"
    )
    parser.add_argument("--screen-lookups", type=int, default=1_000_000)
    parser.add_argument("--screen-distinct", type=int, default=100_000)
    parser.add_argument("--screen-rows", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=float, default=120, help="seconds per request")
    parser.add_argument(
        "--budget", type=float, default=120, help="seconds for each timed series of requests"
    )
    parser.add_argument(
        "--preload",
        type=int,
        default=0,
        help="object versions put in another feed of this server's database first (scale)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args()


def _step(figures: Figures, name: str, action: Callable[[], Any]) -> Any:
    try:
        return action()
    except Exception as error:  # a server failing a step is a finding, not a crash
        figures.problems.append(f"{name}: {type(error).__name__}: {str(error)[:200]}")
        return None


def _run(
    endpoint: Endpoint, sent: list[dict[str, Any]], new: list[dict[str, Any]], args: Any
) -> Figures:
    figures = Figures(endpoint.name, objects=len(sent))
    figures.reader = "subscriber" if endpoint.readers else "publisher"
    envelopes = [
        orjson.dumps({"objects": sent[start : start + args.envelope]}).decode()
        for start in range(0, len(sent), args.envelope)
    ]
    print(f"{endpoint.name}: ingest", file=sys.stderr)
    _step(
        figures,
        "ingest",
        lambda: ingest(
            endpoint,
            envelopes,
            objects=len(sent),
            clients=args.clients,
            timeout=args.timeout,
            figures=figures,
        ),
    )
    print(f"{endpoint.name}: read", file=sys.stderr)
    reader = endpoint.reader(0)
    read = _step(figures, "read", lambda: read_raw_bounded(
        reader, objects=len(sent), page_size=args.page_size, timeout=args.timeout,
        figures=figures))  # fmt: skip
    watermark = stix_timestamp(datetime.now(UTC) - timedelta(milliseconds=1))
    if read is not None:
        figures.read_raw_per_s = len(read.objects) / sum(read.seconds)
        if read.reconnects:
            figures.notes.append(f"read: {read.reconnects} idle connections closed, reopened")
        check_read(read, sent, figures)
        check_served(endpoint, read, figures, timeout=args.timeout)
        deep = partial(deep_pages, reader, read, figures, timeout=args.timeout, budget=args.budget)
        _step(figures, "deep page", deep)
        watermark = read.date_added[-1] if read.date_added else watermark
        figures.rss_mb = rss_megabytes(endpoint.pid)[1]
    if read is None:  # taxii2-client sets no timeout: it would wait as long as the server
        figures.notes.append("read through taxii2-client skipped: the raw read did not finish")
    else:
        client_read = partial(read_client, endpoint.reader(1), page_size=args.page_size)
        counted = _step(figures, "read (taxii2-client)", client_read)
        if counted is not None:
            figures.read_client_per_s = counted.objects / counted.seconds
            figures.client_ceiling_per_s = counted.ceiling_per_s
    print(f"{endpoint.name}: get by id, poll", file=sys.stderr)
    ids = [value["id"] for value in sent]
    batches = [new[start : start + POLL_OBJECTS] for start in range(0, len(new), POLL_OBJECTS)]
    _step(figures, "get by id", lambda: get_by_id(
        reader, ids, samples=args.get_samples, seed=args.seed, timeout=args.timeout,
        budget=args.budget, figures=figures))  # fmt: skip
    _step(figures, "poll", lambda: incremental_poll(
        endpoint, reader, batches, watermark, timeout=args.timeout,
        budget=args.budget, figures=figures))  # fmt: skip
    return figures


def _scaling(endpoint: Endpoint, workdir: Path, args: Any, figures: Figures) -> None:
    """Read throughput of one `feed serve` process and of --workers of them over the same
    database, each read by --workers concurrent readers."""
    print(f"{endpoint.name}: read by 1 and {args.workers} processes", file=sys.stderr)
    for processes in sorted({1, args.workers}):
        with feed_serve(endpoint, workdir, workers=processes, env=_environment()) as served:
            reader = served.reader(0)
            whole = read_raw(reader, page_size=args.page_size, timeout=args.timeout)  # warm up
            parallel = partial(
                read_parallel,
                reader,
                objects=len(whole.objects),
                pages=len(whole.sizes),
                readers=args.workers,
                page_size=args.page_size,
                timeout=args.timeout,
                seconds=args.scaling_seconds,
            )
            read = _step(figures, f"read by {processes} processes", parallel)
            if read is not None:
                figures.read_by_processes[str(processes)] = read.objects_per_s
                if read.busy is not None:
                    figures.busy_by_processes[str(processes)] = read.busy


def _environment() -> dict[str, str]:
    """This process's environment without FEED_ settings: each server is configured apart."""
    return {key: value for key, value in os.environ.items() if not key.startswith("FEED_")}


def _servers(
    names: list[str], workdir: Path, args: Any
) -> Iterator[AbstractContextManager[Endpoint]]:
    env = _environment()
    for name in names:
        if name in ("sqlite", "postgresql"):
            yield feed_server(
                name, workdir, postgres=args.postgres, workers=args.workers, env=env,
                preloaded=args.preload,
            )  # fmt: skip
        elif name == "medallion":
            yield medallion(workdir, args.venvs, env)
        elif name == "opentaxii":
            yield opentaxii(workdir, args.venvs, env)
        else:
            raise SystemExit(f"unknown server {name!r}")


def _screening(
    workdir: Path, sent: list[dict[str, Any]], flagged: list[Any], args: Any
) -> dict[str, Any]:
    print("screening", file=sys.stderr)
    unflagged = addresses(args.screen_distinct, args.seed + 1)
    mirror = workdir / "mirror.db"
    screening.build_mirror(mirror, sent)
    found: dict[str, Any] = {"indicators": len(sent), "problems": []}
    rate, problem = screening.canonical_lookups(
        mirror, flagged, unflagged, args.screen_lookups, args.seed
    )
    found["canonical_per_s"] = rate
    texts = workdir / "transactions.csv"
    hits = screening.write_texts(texts, flagged, unflagged, args.screen_rows)
    found.update(screening.raw_lookups(mirror, texts))
    seconds, file_problem = screening.screen_file(mirror, texts, hits)
    found["file_rows"], found["file_seconds"] = args.screen_rows, seconds
    real_flagged, real_texts = screening.real_addresses()
    real_mirror, listed = workdir / "real.db", workdir / "real.csv"
    screening.build_mirror(real_mirror, indicators(real_flagged, sent[0]["created_by_ref"]))
    real_hits = screening.write_real_texts(listed, real_flagged, real_texts)
    figures, real_problem = screening.real_lookups(real_mirror, listed, real_hits)
    found.update(figures, real_indicators=len(real_flagged))
    found["problems"] = [p for p in (problem, file_problem, real_problem) if p]
    return found


def main() -> None:
    args = _arguments()
    names = [name.strip() for name in args.servers.split(",") if name.strip()]
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="feed-bench-") as directory:
        workdir = Path(directory)
        flagged = addresses(args.objects + POLL_OBJECTS * args.polls, args.seed)
        results: list[Figures] = []
        ours: list[dict[str, Any]] = []
        for name, server in zip(names, _servers(names, workdir, args), strict=True):
            try:
                with server as endpoint:
                    author = endpoint.author or REFERENCE_AUTHOR
                    built = indicators(flagged, author)
                    sent, new = built[: args.objects], built[args.objects :]
                    results.append(_run(endpoint, sent, new, args))
                    if endpoint.database_url and args.workers > 1 and args.scaling_seconds:
                        _scaling(endpoint, workdir, args, results[-1])
                    if endpoint.author and not ours:
                        ours = sent
            except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
                failed = Figures(name)
                failed.problems.append(f"did not start: {error}")
                results.append(failed)
        screened = _screening(workdir, ours, flagged[: args.objects], args) if ours else None
    report = {
        "machine": machine(postgres_version=_postgres_version(args.postgres)),
        "parameters": {
            key: str(value) if isinstance(value, Path) else value
            for key, value in vars(args).items()
            if key not in ("json", "venvs")
        },
        "seconds": round(time.time() - started),
        "servers": [asdict(figures) for figures in results],
        "screening": screened,
    }
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


def _postgres_version(url: str) -> str | None:
    try:
        with psycopg.connect(f"{url}/postgres", connect_timeout=3) as connection:
            row = connection.execute("SHOW server_version").fetchone()
            return None if row is None else str(row[0])
    except psycopg.OperationalError:
        return None


if __name__ == "__main__":
    main()

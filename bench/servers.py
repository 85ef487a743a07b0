"""The servers under test, each started on loopback with one empty collection and stopped
afterwards: what every server needs (its endpoint, a free port, a process watched until it
answers, its memory), and this project on SQLite or PostgreSQL; the reference servers are in
`references`."""

import base64
import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import psycopg
import requests
from sqlalchemy import update
from sqlmodel import col

from feed import accounts
from feed.config import Settings
from feed.database import bulk_insert, create_engine_for, migrate
from feed.store import Store
from feed.tables import Collection, ObjectVersion, Organisation, Role
from feed.taxii import now_micros

STARTUP_SECONDS = 60
RATE_LIMIT = 1_000_000_000  # requests a minute per caller
# Subscribers of this project's feed: one reads the collection raw and polls it, one reads it
# through taxii2-client, each for the first time, as an exchange does when it subscribes.
READERS = 2
_ACCEPT = {"Accept": "application/taxii+json;version=2.1"}


class Reader(NamedTuple):
    organisation: str
    user: str
    password: str


@dataclass(frozen=True)
class Endpoint:
    """One collection on one running server, and how to reach it."""

    name: str
    api_root: str  # absolute URL, ending in "/"
    collection_id: str
    user: str
    password: str
    pid: int
    author: str = ""  # the identity objects must name as created_by_ref, where checked
    database_url: str = ""  # this project's servers: where more processes can serve the same
    # Where a server tells subscribers from publishers (this project's), the keys of exchanges
    # granted the feed, each to read it as a new subscriber does; elsewhere the publisher reads.
    readers: tuple[Reader, ...] = ()

    @property
    def collection_url(self) -> str:
        return f"{self.api_root}collections/{self.collection_id}/"

    @property
    def objects_url(self) -> str:
        return f"{self.collection_url}objects/"

    def reader(self, index: int) -> "Endpoint":
        """The endpoint as its `index`th reader sees it: a subscriber that has read nothing
        yet, until its first read; the publisher where the server has no subscribers."""
        if not self.readers:
            return self
        reader = self.readers[index]
        return replace(self, user=reader.user, password=reader.password, readers=())

    @property
    def authorization(self) -> str:
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return f"Basic {token}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running(
    command: list[str],
    health_url: str,
    *,
    log: Path,
    env: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    startup: float = STARTUP_SECONDS,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `command` with its output in `log`, wait until `health_url` answers 200, and
    stop it afterwards. A server that exits or stays silent is reported with its last words."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + startup
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited on start: {_tail(log)}")
            try:
                answer = requests.get(health_url, auth=auth, headers=_ACCEPT, timeout=2)
                if answer.status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not answer in {startup:g} s: {_tail(log)}")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


@contextmanager
def _database(kind: str, workdir: Path, postgres: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir}/feed-bench.db"
        return
    name = f"feed_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{postgres}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{postgres}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def preload(store: Store, owner: Organisation, versions: int) -> None:
    """Fill the database with `versions` object versions in a feed of their own, as many feeds
    would: the tables and their indexes grow, the benchmark's feed does not."""
    with store.writing() as session:
        filler, _ = accounts.create_feed(session, owner, "Filler feed")
    template = json.dumps(_filler_object(owner.identity_id))
    stamp = now_micros()
    for start in range(0, versions, 10_000):
        rows = []
        for number in range(start, min(start + 10_000, versions)):
            object_id = f"indicator--{uuid.uuid5(FILLER, str(number))}"
            rows.append(
                {
                    "collection_id": filler.id,
                    "object_id": object_id,
                    "type": "indicator",
                    "spec_version": "2.1",
                    "version": "2026-01-01T00:00:00.000000Z",
                    "date_added": stamp + number,
                    "is_latest": True,
                    "body": template.replace("indicator--filler", object_id),
                }
            )
        with store.writing() as session:
            bulk_insert(session.connection(), ObjectVersion.__table__, rows)  # type: ignore[attr-defined]
    with store.writing() as session:
        session.execute(
            update(Collection)
            .where(col(Collection.id) == filler.id)
            .values(last_date_added=stamp + versions)
        )
    settle(store)


def settle(store: Store) -> None:
    """Leave the database as if its versions had been there long: analysed and, on
    PostgreSQL, vacuumed and checkpointed. Otherwise autovacuum of the freshly loaded table
    and the checkpoint that writes it out run during the measurements."""
    store.ensure_statistics()
    if store.engine.dialect.name != "postgresql":
        return
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM (ANALYZE) object_version")
        connection.exec_driver_sql("CHECKPOINT")


FILLER = uuid.UUID("3f1c9a52-7d0e-4b8a-9e61-2c5d8f4a7b30")


def _filler_object(author: str) -> dict[str, object]:
    return {
        "type": "indicator", "spec_version": "2.1", "id": "indicator--filler",
        "created_by_ref": author, "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z", "name": "filler",
        "indicator_types": ["malicious-activity"], "pattern_type": "stix",
        "pattern": "[cryptocurrency-wallet:value = 'filler']",
        "valid_from": "2026-01-01T00:00:00Z", "description": "x" * 700,
    }  # fmt: skip


@contextmanager
def feed_server(
    kind: str,
    workdir: Path,
    *,
    postgres: str,
    workers: int,
    env: dict[str, str],
    preloaded: int = 0,
) -> Iterator[Endpoint]:
    """`feed serve` over a new database with one watchdog and its feed, and `preloaded`
    object versions elsewhere in the database."""
    with _database(kind, workdir, postgres) as url:
        engine = create_engine_for(Settings(database_url=url))
        try:
            migrate(engine)
            with Store(engine).writing() as session:
                watchdog = accounts.create_organisation(session, "Bench Watchdog", Role.WATCHDOG)
                issued = accounts.create_key(session, watchdog)
                feed, _ = accounts.create_feed(session, watchdog, "Bench feed")
                feed_id, author = feed.id, watchdog.identity_id
                readers: list[Reader] = []
                for reader in range(READERS):
                    name = f"Bench Exchange {reader + 1}"
                    exchange = accounts.create_organisation(session, name, Role.EXCHANGE)
                    accounts.grant_feed(session, feed, exchange)
                    key = accounts.create_key(session, exchange)
                    readers.append(Reader(name, key.key_id, key.secret))
            if preloaded:
                print(f"preloading {preloaded:,} object versions", file=sys.stderr)
                preload(Store(engine), watchdog, preloaded)
        finally:
            engine.dispose()
        credentials = (issued.key_id, issued.secret)
        name = f"feed ({kind})"
        endpoint = Endpoint(
            name, "", feed_id, *credentials, 0, author, database_url=url, readers=tuple(readers)
        )
        with feed_serve(endpoint, workdir, workers=workers, env=env) as served:
            yield served


@contextmanager
def feed_serve(
    endpoint: Endpoint, workdir: Path, *, workers: int, env: dict[str, str]
) -> Iterator[Endpoint]:
    """`feed serve` with `workers` processes over the database of `endpoint`, on a port of its
    own; several of them can serve one database."""
    port = free_port()
    command = [sys.executable, "-m", "feed.cli", "serve", "--port", str(port)]
    settings = {
        **env,
        "FEED_DATABASE_URL": endpoint.database_url,
        "FEED_WORKERS": str(workers),
        "FEED_LOG_LEVEL": "warning",
        "FEED_PAGE_LIMIT_MAX": "1000",
        # Every request is still counted, as in production, against a limit no run reaches:
        # a million objects' reads asked more than the default 6,000 a minute.
        "FEED_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
    }
    base = f"http://127.0.0.1:{port}"
    log = workdir / f"feed-{port}.log"
    with running(command, f"{base}/healthz", log=log, env=settings) as process:
        yield replace(endpoint, api_root=f"{base}/api/", pid=process.pid)


def rss_megabytes(pid: int) -> tuple[float, float]:
    """(resident, peak resident) in MB of the largest process in the tree under `pid`, so a
    server's supervisor and each of its workers count apart."""
    largest = (0.0, 0.0)
    for process in _tree(pid):
        try:
            status = Path(f"/proc/{process}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        resident = int(fields.get("VmRSS", "0 kB").split()[0]) / 1024
        peak = int(fields.get("VmHWM", "0 kB").split()[0]) / 1024
        largest = max(largest, (resident, peak), key=lambda pair: pair[1])
    return largest


def _tree(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found.extend(_tree(int(child)))
    return found

"""The servers under test, each started on loopback with one empty collection and stopped
afterwards: this project (on SQLite or PostgreSQL) and the reference servers, each installed
from the package registry into a virtual environment of its own."""

import base64
import json
import socket
import subprocess
import sys
import time
import uuid
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

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

MEDALLION = "medallion==3.0.0"
OPENTAXII = "opentaxii==0.9.3"
STARTUP_SECONDS = 60
RATE_LIMIT = 1_000_000_000  # requests a minute per caller
_ACCEPT = {"Accept": "application/taxii+json;version=2.1"}


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

    @property
    def collection_url(self) -> str:
        return f"{self.api_root}collections/{self.collection_id}/"

    @property
    def objects_url(self) -> str:
        return f"{self.collection_url}objects/"

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


# --- this project ------------------------------------------------------------------------------


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
            if preloaded:
                print(f"preloading {preloaded:,} object versions", file=sys.stderr)
                preload(Store(engine), watchdog, preloaded)
        finally:
            engine.dispose()
        credentials = (issued.key_id, issued.secret)
        name = f"feed ({kind})"
        endpoint = Endpoint(name, "", feed_id, *credentials, 0, author, database_url=url)
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


# --- reference servers -------------------------------------------------------------------------


def installed(venvs: Path, requirement: str) -> Path:
    """The Python of a virtual environment holding `requirement`, made on first use."""
    home = venvs / requirement.replace("==", "-")
    python = home / "bin" / "python"
    marker = home / "installed"
    if not marker.exists():
        print(f"installing {requirement} into {home}", file=sys.stderr)
        venv.create(home, with_pip=True, clear=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", requirement], check=True)
        marker.write_text(requirement)
    return python


@contextmanager
def medallion(workdir: Path, venvs: Path, env: dict[str, str]) -> Iterator[Endpoint]:
    """medallion with its memory backend, the OASIS reference implementation."""
    python = installed(venvs, MEDALLION)
    port, collection_id = free_port(), str(uuid.uuid4())
    root = f"http://127.0.0.1:{port}/bench/"
    data = {
        "/discovery": {"title": "bench", "default": root, "api_roots": [root]},
        "bench": {
            "information": {
                "title": "bench",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 200 * 1024 * 1024,
            },
            "status": [],
            "collections": [
                {
                    "id": collection_id,
                    "title": "bench",
                    "can_read": True,
                    "can_write": True,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": [],
                    "manifest": [],
                }
            ],
        },
    }
    (workdir / "medallion-data.json").write_text(json.dumps(data))
    config = {
        "backend": {
            "module_class": "MemoryBackend",
            "module": "medallion.backends.memory_backend",
            "filename": str(workdir / "medallion-data.json"),
        },
        "users": {"bench": "bench"},
        "taxii": {"max_page_size": 1000},
    }
    (workdir / "medallion.json").write_text(json.dumps(config))
    command = [
        str(python.parent / "medallion"),
        "--port",
        str(port),
        str(workdir / "medallion.json"),
    ]
    health = f"http://127.0.0.1:{port}/taxii2/"
    log = workdir / "medallion.log"
    with running(command, health, log=log, env=env, auth=("bench", "bench")) as process:
        yield Endpoint("medallion", root, collection_id, "bench", "bench", process.pid)


_OPENTAXII_CONFIG = """\
domain: "127.0.0.1:{port}"
support_basic_auth: yes
return_server_error_details: yes
auth_api:
  class: opentaxii.auth.sqldb.SQLDatabaseAPI
  parameters:
    db_connection: sqlite:///{workdir}/opentaxii-auth.db
    create_tables: yes
    secret: {secret}
    token_ttl_secs: 3600
taxii1:
taxii2:
  persistence_api:
    class: opentaxii.persistence.sqldb.Taxii2SQLDatabaseAPI
    parameters:
      db_connection: sqlite:///{workdir}/opentaxii-data.db
      create_tables: yes
  max_content_length: 209715200
  title: bench
  public_discovery: true
  allow_custom_properties: true
logging:
  opentaxii: warning
  root: warning
"""

# Run in OpenTAXII's own environment: an API root, a collection, an account.
_OPENTAXII_SETUP = """\
import json
from opentaxii.cli import app
with app.app_context():
    persistence = app.taxii_server.servers.taxii2.persistence.api
    root = persistence.add_api_root(title="bench", default=True)
    collection = persistence.add_collection(api_root_id=str(root.id), title="bench")
    app.taxii_server.auth.api.create_account("bench", "bench", is_admin=True)
    print(json.dumps({"root": str(root.id), "collection": str(collection.id)}))
"""

_OPENTAXII_RUN = """\
import sys
from opentaxii.cli import app
app.run(host="127.0.0.1", port=int(sys.argv[1]), debug=False, use_reloader=False, threaded=True)
"""


@contextmanager
def opentaxii(workdir: Path, venvs: Path, env: dict[str, str]) -> Iterator[Endpoint]:
    """OpenTAXII on SQLite, in TAXII 2.1-only mode."""
    python = installed(venvs, OPENTAXII)
    port = free_port()
    config = workdir / "opentaxii.yml"
    config.write_text(_OPENTAXII_CONFIG.format(port=port, workdir=workdir, secret=uuid.uuid4().hex))
    settings = {**env, "OPENTAXII_CONFIG": str(config), "PYTHONWARNINGS": "ignore"}
    setup = subprocess.run(
        [str(python), "-c", _OPENTAXII_SETUP],
        env=settings,
        check=True,
        capture_output=True,
        text=True,
    )
    ids = json.loads(setup.stdout.strip().splitlines()[-1])
    command = [str(python), "-c", _OPENTAXII_RUN, str(port)]
    health = f"http://127.0.0.1:{port}/taxii2/"
    log = workdir / "opentaxii.log"
    with running(command, health, log=log, env=settings, auth=("bench", "bench")) as process:
        root = f"http://127.0.0.1:{port}/taxii2/{ids['root']}/"
        yield Endpoint("OpenTAXII", root, ids["collection"], "bench", "bench", process.pid)


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

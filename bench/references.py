"""The reference servers, each installed from the package registry into a virtual
environment of its own and started on loopback with one empty collection: medallion (the
OASIS reference implementation) and OpenTAXII."""

import json
import subprocess
import sys
import uuid
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.servers import Endpoint, free_port, running

MEDALLION = "medallion==3.0.0"
OPENTAXII = "opentaxii==0.9.3"


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

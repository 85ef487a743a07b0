"""The OpenAPI document of a running server, fuzzed by schemathesis as an owner and as an
exchange: no request gets a 500, and every documented response matches its schema and media
type. Requests go to the test world's feed, so they reach its objects, not only 404s. The
bodies of our extensions' POSTs are documented, so they are fuzzed too."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from feed.taxii import TAXII_MEDIA_TYPE
from tests.conftest import World

CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"


@pytest.mark.parametrize("role", ["watchdog", "exchange"])
def test_fuzzed_requests_get_no_500_and_match_the_schema(
    base_url: str, world: World, tmp_path: Path, role: str
) -> None:
    member = getattr(world, role)
    config = tmp_path / "schemathesis.toml"
    config.write_text(f'[parameters]\ncollection_id = "{world.feed}"\n')
    command = [
        str(Path(sys.executable).parent / "st"),
        "--config-file", str(config),
        "run", f"{base_url}/openapi.json",
        "--header", f"Authorization: Bearer {member.bearer}",
        "--header", f"Accept: {TAXII_MEDIA_TYPE}",
        "--checks", CHECKS,
        "--max-examples", "30",
        "--seed", "1",
        "--workers", "1",
        "--generation-database", "none",
    ]  # fmt: skip
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout


@pytest.mark.parametrize(
    ("path", "good"),
    [
        ("/api/lookup/", {"addresses": [{"address": "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu"}]}),
        ("/api/collections/{collection_id}/acknowledgements/", {"through": "2026-01-01T00:00:00Z"}),
        ("/api/collections/{collection_id}/objects/", {"objects": [{"type": "indicator"}]}),
    ],
)
def test_a_body_read_raw_is_documented_with_its_schema(
    client: TestClient, path: str, good: dict[str, Any]
) -> None:
    """The handlers read these bodies themselves (media type, length, one parse), so FastAPI
    cannot document them: the OpenAPI page shows each with its schema, definitions in place,
    and a body that is wrong where it matters is wrong by it too."""
    body = client.get("/openapi.json").json()["paths"][path]["post"]["requestBody"]
    schema = body["content"][TAXII_MEDIA_TYPE]["schema"]
    assert body["required"] is True
    assert "$ref" not in json.dumps(schema)
    jsonschema.validate(good, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {name: [] if isinstance(v, list) else 5 for name, v in good.items()}, schema
        )

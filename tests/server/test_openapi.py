"""The OpenAPI document of a running server, fuzzed by schemathesis as an owner and as an
exchange: no request gets a 500, and every documented response matches its schema and media
type. Requests go to the test world's feed, so they reach its objects, not only 404s."""

import subprocess
import sys
from pathlib import Path

import pytest

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

"""docker-compose.yml and the Dockerfile agree with the `feed` command (no container engine
runs here, so they are checked by reading them)."""

import shlex
from pathlib import Path

import yaml
from click.testing import CliRunner

from feed.cli import main

ROOT = Path(__file__).resolve().parents[1]


def cli_accepts(argv: list[str]) -> bool:
    """True when click parses these arguments (checked with --help, so nothing runs)."""
    assert argv[0] == "feed"
    return CliRunner().invoke(main, [*argv[1:], "--help"]).exit_code == 0


def test_compose_services() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "server"} <= set(services)
    server = services["server"]
    assert cli_accepts(server["command"])
    assert server["environment"]["FEED_DATABASE_URL"].startswith("postgresql://")
    assert server["environment"]["FEED_DATABASE_URL"].split("@")[1].startswith("postgres:5432/")
    port = server["environment"]["FEED_PORT"]
    assert server["ports"] == [f"{port}:{port}"]
    assert f":{port}/healthz" in " ".join(server["healthcheck"]["test"])
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"][1]


def test_compose_sandbox_has_a_database_of_its_own() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    sandbox = services["sandbox"]
    command = sandbox["command"]
    assert command[:2] == ["feed", "sandbox"]
    assert cli_accepts(command)
    port = command[command.index("--port") + 1]
    assert sandbox["ports"] == [f"{port}:{port}"]
    assert f":{port}/healthz" in " ".join(sandbox["healthcheck"]["test"])
    database = sandbox["environment"]["FEED_SANDBOX_DATABASE_URL"]
    host = database.split("@")[1].split(":")[0]
    assert host != "postgres"
    assert host in services
    assert sandbox["depends_on"][host]["condition"] == "service_healthy"
    assert "FEED_DATABASE_URL" not in sandbox["environment"]


def test_dockerfile_installs_the_package_and_serves() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    cmd = next(line for line in lines if line.startswith("CMD "))
    assert cli_accepts(yaml.safe_load(cmd.removeprefix("CMD ")))
    assert any("pip install" in line and " . " in line for line in lines)
    expose = next(line for line in lines if line.startswith("EXPOSE"))
    assert "FEED_PORT=" + shlex.split(expose)[1] in " ".join(lines)
    assert any("/healthz" in line for line in lines)

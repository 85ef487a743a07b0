"""Protocol rules every endpoint keeps: media types, error bodies, authentication, access."""

import base64
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from typing import Any

import anyio.to_thread
import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from feed import accounts
from feed.config import Settings
from feed.server.app import create_app
from feed.store import Store
from feed.taxii import TAXII_MEDIA_TYPE
from tests.conftest import World
from tests.serving import serving
from tests.stix_objects import envelope, indicator


def test_every_response_is_taxii_including_errors(client: TestClient, world: World) -> None:
    headers = world.watchdog.headers
    for path in (
        "/taxii2/",
        "/api/",
        "/api/collections/",
        "/api/nowhere/",
        f"/api/collections/{world.feed}/",
    ):
        response = client.get(path, headers=headers)
        assert response.headers["content-type"] == TAXII_MEDIA_TYPE, path
    missing = client.get("/api/nowhere/", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["http_status"] == "404"
    assert missing.json()["description"] == "there is no such endpoint"
    unslashed = client.get("/api/collections", headers=headers)  # redirected, then served
    assert unslashed.status_code == 200


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        (TAXII_MEDIA_TYPE, 200),
        ("application/taxii+json", 200),
        ("application/taxii+json; version=2.1", 200),
        ("text/html, application/taxii+json;version=2.1;q=0.9", 200),
        ("application/taxii+json;version=2.0", 406),
        ("application/json", 406),
        ("*/*", 406),
        (None, 406),
    ],
)
def test_accept_header(client: TestClient, world: World, accept: str | None, status: int) -> None:
    headers = {"Authorization": f"Bearer {world.watchdog.bearer}"}
    if accept is not None:
        headers["Accept"] = accept
    response = client.get("/api/collections/", headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == TAXII_MEDIA_TYPE
    if status == 406:
        assert response.json()["http_status"] == "406"


def test_post_with_another_content_type_is_415(client: TestClient, world: World) -> None:
    body = json.dumps(envelope(indicator(world.watchdog.identity)))
    for content_type in ("application/json", "application/taxii+json;version=2.0", None):
        headers = dict(world.watchdog.headers)
        if content_type:
            headers["Content-Type"] = content_type
        response = client.post(
            f"/api/collections/{world.feed}/objects/", content=body, headers=headers
        )
        assert response.status_code == 415
        assert response.json()["http_status"] == "415"


def test_body_over_max_content_length_is_413_and_never_under(
    client: TestClient, world: World
) -> None:
    limit = client.get("/api/", headers=world.watchdog.headers).json()["max_content_length"]
    headers = {**world.watchdog.headers, "Content-Type": TAXII_MEDIA_TYPE}
    url = f"/api/collections/{world.feed}/objects/"

    def body_of_size(size: int) -> bytes:
        obj = indicator(world.watchdog.identity, description="")
        skeleton = json.dumps(envelope(obj)).encode()
        obj["description"] = "x" * (size - len(skeleton))
        raw = json.dumps(envelope(obj)).encode()
        assert len(raw) == size
        return raw

    exactly = client.post(url, content=body_of_size(limit), headers=headers)
    assert exactly.status_code == 202
    over = client.post(url, content=body_of_size(limit + 1), headers=headers)
    assert over.status_code == 413
    assert over.json()["http_status"] == "413"

    def chunked() -> object:
        raw = body_of_size(limit + 1)
        yield raw[: limit // 2]
        yield raw[limit // 2 :]

    streamed = client.post(url, content=chunked(), headers=headers)  # type: ignore[arg-type]
    assert streamed.status_code == 413


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", b'{"objects": []}', b'{"objects": {}}', b'"objects"'],
)
def test_malformed_envelope_is_400(client: TestClient, world: World, body: bytes) -> None:
    headers = {**world.watchdog.headers, "Content-Type": TAXII_MEDIA_TYPE}
    response = client.post(f"/api/collections/{world.feed}/objects/", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["description"]


def test_non_object_elements_fail_alone(client: TestClient, world: World) -> None:
    good = indicator(world.watchdog.identity)
    body = json.dumps({"objects": [5, good, "text"]}).encode()
    headers = {**world.watchdog.headers, "Content-Type": TAXII_MEDIA_TYPE}
    status = client.post(
        f"/api/collections/{world.feed}/objects/", content=body, headers=headers
    ).json()
    assert status["success_count"] == 1
    assert [f["id"] for f in status["failures"]] == ["objects[0]", "objects[2]"]


def test_authentication(client: TestClient, world: World) -> None:
    accept = {"Accept": TAXII_MEDIA_TYPE}
    assert client.get("/api/collections/", headers=accept).status_code == 401
    secret = world.watchdog.bearer.split(".", 1)[1]
    basic = base64.b64encode(f"{world.watchdog.key_id}:{secret}".encode()).decode()
    assert (
        client.get(
            "/api/collections/", headers={**accept, "Authorization": f"Basic {basic}"}
        ).status_code
        == 200
    )
    wrong = base64.b64encode(f"{world.watchdog.key_id}:wrong".encode()).decode()
    for authorization in (
        f"Basic {wrong}",
        "Basic !!!",
        "Bearer nodot",
        "Token abc",
        f"Bearer {world.watchdog.key_id}.x",
    ):
        response = client.get(
            "/api/collections/", headers={**accept, "Authorization": authorization}
        )
        assert response.status_code == 401, authorization
        assert response.json()["http_status"] == "401"
        assert "WWW-Authenticate" in response.headers


def test_revoked_key_stops_working(client: TestClient, world: World) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    with store.writing() as session:
        accounts.revoke_key(session, world.exchange.key_id)
    assert client.get("/api/collections/", headers=world.exchange.headers).status_code == 401


def test_collections_visible_by_grant(client: TestClient, world: World) -> None:
    def listed(member_headers: dict[str, str]) -> dict[str, tuple[bool, bool]]:
        body = client.get("/api/collections/", headers=member_headers).json()
        return {c["id"]: (c["can_read"], c["can_write"]) for c in body.get("collections", [])}

    assert listed(world.watchdog.headers) == {
        world.feed: (True, True),
        world.reports: (True, False),
    }
    assert listed(world.exchange.headers) == {
        world.feed: (True, False),
        world.reports: (False, True),
    }
    assert listed(world.outsider.headers) == {}
    assert client.get("/api/collections/", headers=world.outsider.headers).json() == {}
    assert set(listed(world.admin.headers)) >= {world.feed, world.reports, world.other_feed}


@pytest.mark.parametrize(
    ("who", "collection", "method", "expected"),
    [
        ("exchange", "feed", "GET", 200),
        ("exchange", "feed", "POST", 403),
        ("exchange", "reports", "GET", 403),
        ("exchange", "reports", "POST", 202),
        ("outsider", "feed", "GET", 404),
        ("outsider", "feed", "POST", 404),
        ("other_watchdog", "feed", "GET", 404),
        ("watchdog", "reports", "GET", 200),
        ("watchdog", "reports", "POST", 403),
        ("watchdog", "other_feed", "GET", 404),
        ("admin", "feed", "GET", 200),
        ("admin", "feed", "POST", 403),
    ],
)
def test_access_to_objects(
    client: TestClient, world: World, who: str, collection: str, method: str, expected: int
) -> None:
    member = getattr(world, who)
    url = f"/api/collections/{getattr(world, collection)}/objects/"
    if method == "GET":
        response = client.get(url, headers=member.headers)
    else:
        body = json.dumps(envelope(indicator(member.identity)))
        response = client.post(
            url, content=body, headers={**member.headers, "Content-Type": TAXII_MEDIA_TYPE}
        )
    assert response.status_code == expected
    if expected >= 400:
        assert "objects" not in response.json()
        assert response.json()["http_status"] == str(expected)


def test_an_endpoint_doing_no_io_crosses_into_a_worker_thread_only_for_its_caller(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each crossing costs a wake-up of two threads (0.2 to 0.5 ms on a small virtual
    machine); only the resolution of the caller needs the database."""
    crossings: list[object] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(function: Any, *args: Any, **kwargs: Any) -> Any:
        crossings.append(function)
        return await run_sync(function, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    for path in ("/taxii2/", "/api/", "/api/identity/", f"/api/collections/{world.feed}/"):
        crossings.clear()
        response = client.get(path, headers=world.exchange.headers)
        assert (response.status_code, len(crossings)) == (200, 1), path


def test_healthz_needs_no_credentials(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def _whole_response(connection: socket.socket) -> str:
    """One HTTP response, however many segments its head and body come in."""
    received = b""
    while True:
        head, separator, body = received.partition(b"\r\n\r\n")
        length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
        if separator and length and len(body) >= int(length[1]):
            return received.decode()
        chunk = connection.recv(65536)
        assert chunk, f"the connection closed mid-response: {received!r}"
        received += chunk


def test_a_stalled_upload_gets_408_while_others_are_served(
    settings: Settings, world: World
) -> None:
    with serving(settings.model_copy(update={"body_timeout_seconds": 1.0})) as base:
        host, port = base.removeprefix("http://").split(":")
        request = (
            f"POST /api/collections/{world.feed}/objects/ HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {world.watchdog.bearer}\r\nAccept: {TAXII_MEDIA_TYPE}\r\n"
            f"Content-Type: {TAXII_MEDIA_TYPE}\r\nContent-Length: 1000\r\n\r\n"
            '{"objects": ['
        )
        with socket.create_connection((host, int(port))) as stalled:
            stalled.sendall(request.encode())
            started = time.monotonic()
            assert httpx2.get(f"{base}/healthz").status_code == 200
            stalled.settimeout(15)
            answer = _whole_response(stalled)
        waited = time.monotonic() - started
    assert answer.startswith("HTTP/1.1 408"), answer
    assert "not received within 1 s (13 bytes arrived)" in answer
    assert TAXII_MEDIA_TYPE in answer
    assert 0.5 < waited < 10


def test_a_key_is_rotated_while_the_server_runs(
    base_url: str, settings: Settings, world: World
) -> None:
    env = {**os.environ, "FEED_DATABASE_URL": settings.database_url}
    admin = [sys.executable, "-m", "feed.cli", "admin", "key"]
    created = subprocess.run(
        [*admin, "create", world.exchange.name, "--json"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    new = json.loads(created.stdout)["bearer"]

    def status(bearer: str) -> int:
        headers = {"Accept": TAXII_MEDIA_TYPE, "Authorization": f"Bearer {bearer}"}
        return httpx2.get(f"{base_url}/api/collections/", headers=headers).status_code

    assert (status(world.exchange.bearer), status(new)) == (200, 200)
    subprocess.run([*admin, "revoke", world.exchange.key_id], env=env, check=True,
                   capture_output=True)  # fmt: skip
    assert (status(world.exchange.bearer), status(new)) == (401, 200)


def _failure(kind: type[DBAPIError], *, invalidated: bool = False) -> DBAPIError:
    return kind(
        "SELECT 1 WHERE secret_hash = :hash", {"hash": "h4sh"}, Exception("from the driver\n..."),
        connection_invalidated=invalidated,
    )  # fmt: skip


def _refused_by_sqlite() -> OperationalError:
    """What SQLAlchemy raises for a statement SQLite refuses (SQLITE_ERROR)."""
    with closing(sqlite3.connect(":memory:")) as connection:
        try:
            connection.execute("SELECT * FROM no_such_table")
        except sqlite3.OperationalError as refused:
            return OperationalError("SELECT * FROM no_such_table", {}, refused)
    raise AssertionError("SQLite took a statement about a missing table")


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (_failure(OperationalError), 503),
        (_refused_by_sqlite(), 500),
        (_failure(InterfaceError), 503),
        (PoolTimeout("no connection free"), 503),
        (_failure(DBAPIError, invalidated=True), 503),
        (_failure(IntegrityError), 500),
        (_failure(DataError), 500),
        (_failure(ProgrammingError), 500),
    ],
)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_only_a_database_outage_asks_for_a_retry(
    settings: Settings,
    store: Store,
    error: Exception,
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A request that failed on its data would fail again: a 503's Retry-After would have
    # clients resend it forever.
    app = create_app(settings)

    @app.get("/failing/")
    def failing() -> None:
        raise error

    with (
        caplog.at_level("WARNING", logger="feed.server"),
        TestClient(app, raise_server_exceptions=False) as failing_client,
    ):
        response = failing_client.get("/failing/")
    assert response.status_code == status
    assert response.json()["http_status"] == str(status)
    assert ("Retry-After" in response.headers) == (status == 503)
    if status == 503:  # the driver's words for the operator, not the statement's parameters
        driver = "TimeoutError: no connection free" if isinstance(error, PoolTimeout) else (
            "Exception: from the driver"
        )  # fmt: skip
        assert [r.getMessage() for r in caplog.records] == [f"database unavailable: {driver}"]

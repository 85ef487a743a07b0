"""The access log: a line per request naming the caller's organisation, the endpoint, the
status and the duration, from which neither a credential nor a forged line can come."""

import pytest
from fastapi.testclient import TestClient

from feed import accounts
from feed.store import Store
from feed.tables import Role
from feed.taxii import TAXII_MEDIA_TYPE
from tests.conftest import World


def test_request_log_names_organisation_endpoint_status_and_duration(
    client: TestClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="feed.access"):
        client.get(
            f"/api/collections/{world.feed}/objects/?limit=1", headers=world.exchange.headers
        )
        client.get("/api/collections/", headers={"Accept": TAXII_MEDIA_TYPE})
    served, refused = (
        record.getMessage() for record in caplog.records if record.name == "feed.access"
    )
    assert served.startswith(
        f'org="{world.exchange.name}" GET /api/collections/{world.feed}/objects/ status=200'
    )
    assert "duration_ms=" in served
    assert refused.startswith("org=- GET /api/collections/ status=401")
    assert world.exchange.bearer.split(".")[1] not in caplog.text


def test_an_organisation_s_name_is_one_field_of_the_log_line(
    client: TestClient, store: Store, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    name = 'Acme "Exchange" status=200 \\ x'
    with store.writing() as session:
        issued = accounts.create_key(
            session, accounts.create_organisation(session, name, Role.EXCHANGE)
        )
    as_acme = {"Accept": TAXII_MEDIA_TYPE, "Authorization": f"Bearer {issued.bearer}"}
    with caplog.at_level("INFO", logger="feed.access"):
        client.get("/api/collections/", headers=as_acme)
        client.get("/api/collections/", headers=world.watchdog.headers)
    acme, hotline = (r.getMessage() for r in caplog.records if r.name == "feed.access")
    assert acme.startswith('org="Acme \\"Exchange\\" status=200 \\\\ x" GET /api/collections/ ')
    assert hotline.startswith("org=Hotline GET /api/collections/ status=200")


def test_an_encoded_line_break_in_a_path_cannot_forge_a_log_line(
    client: TestClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    forged = "/api/%0Aorg=Operator%20DELETE%20/api/collections/x/objects/y/%20status=200/"
    with caplog.at_level("INFO", logger="feed.access"):
        client.get(forged, headers=world.exchange.headers)
    (logged,) = (record.getMessage() for record in caplog.records if record.name == "feed.access")
    assert logged.startswith(f"org=- GET {forged} status=404")  # no route: no caller read
    assert "\n" not in logged

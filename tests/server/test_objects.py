"""Objects, object, versions, manifest and status over HTTP, on SQLite and PostgreSQL."""

import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, update

from feed.stix import PROJECT_IDENTITY_ID
from feed.tables import StatusRecord
from feed.taxii import TAXII_MEDIA_TYPE, Status, dump_model, now_micros, parse_timestamp
from tests.conftest import Member, World
from tests.stix_objects import envelope, indicator

POST = {"Content-Type": TAXII_MEDIA_TYPE}


def objects_url(collection: str) -> str:
    return f"/api/collections/{collection}/objects/"


def post(client: TestClient, member: Member, collection: str, body: Any) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post(
        objects_url(collection), content=data, headers={**member.headers, **POST}
    )
    assert response.status_code == 202, response.text
    assert response.headers["content-type"] == TAXII_MEDIA_TYPE
    return response.json()


def test_add_objects_reports_each_object(client: TestClient, world: World) -> None:
    good = indicator(world.watchdog.identity, number=1)
    bad_pattern = indicator(world.watchdog.identity, number=2, pattern="[x:y = ")
    no_author = indicator(world.watchdog.identity, number=3)
    del no_author["created_by_ref"]
    forged = indicator(world.other_watchdog.identity, number=4)
    status = post(
        client, world.watchdog, world.feed, envelope(good, bad_pattern, no_author, forged)
    )

    assert status["status"] == "complete"
    assert (status["total_count"], status["success_count"], status["failure_count"]) == (4, 1, 3)
    assert status["pending_count"] == 0
    assert [s["id"] for s in status["successes"]] == [good["id"]]
    messages = {f["id"]: f["message"] for f in status["failures"]}
    assert "pattern" in messages[bad_pattern["id"]]
    assert "no created_by_ref" in messages[no_author["id"]]
    assert f"is not your identity {world.watchdog.identity}" in messages[forged["id"]]
    assert messages[forged["id"]].startswith("objects[3]")

    fetched = client.get(status_url(status["id"]), headers=world.watchdog.headers).json()
    assert fetched == status
    assert list(status) == list(dump_model(Status.model_validate(status))), "the schema's order"
    assert dump_model(Status.model_validate(status)) == status


def status_url(status_id: str) -> str:
    return f"/api/status/{status_id}/"


def test_exact_duplicate_succeeds_and_changed_same_version_fails(
    client: TestClient, world: World
) -> None:
    first = indicator(world.watchdog.identity, number=1)
    post(client, world.watchdog, world.feed, envelope(first))
    again = post(client, world.watchdog, world.feed, envelope(first, first))
    assert again["success_count"] == 2
    assert again["failure_count"] == 0
    changed = {**first, "name": "changed without a new modified"}
    refused = post(client, world.watchdog, world.feed, envelope(changed))
    assert refused["failure_count"] == 1
    assert "versions are immutable" in refused["failures"][0]["message"]
    page = client.get(objects_url(world.feed), headers=world.watchdog.headers).json()
    assert [o["id"] for o in page["objects"]].count(first["id"]) == 1


def test_a_new_version_that_changes_created_is_refused(client: TestClient, world: World) -> None:
    first = indicator(world.watchdog.identity, number=1)
    post(client, world.watchdog, world.feed, envelope(first))
    moved = {**first, "modified": "2025-06-01T00:00:00Z", "created": "2025-05-01T00:00:00Z"}
    refused = post(client, world.watchdog, world.feed, envelope(moved))
    assert (refused["success_count"], refused["failure_count"]) == (0, 1)
    assert refused["failures"][0]["message"].startswith(
        "created 2025-05-01T00:00:00Z is not 2025-01-01T00:00:00.000Z, the created of this "
        "object's other versions"
    )
    page = client.get(objects_url(world.feed), headers=world.watchdog.headers).json()
    [served] = [o for o in page["objects"] if o["id"] == first["id"]]
    assert served == first


def test_stored_json_is_served_byte_for_byte(client: TestClient, world: World) -> None:
    obj = indicator(world.watchdog.identity, number=1, x_note='é ünïcode \\ "quoted"')
    raw_object = json.dumps(obj, indent=3, ensure_ascii=True)
    body = ('{ "objects" : [\n' + raw_object + "\n] }").encode()
    post(client, world.watchdog, world.feed, body)
    response = client.get(objects_url(world.feed) + obj["id"] + "/", headers=world.watchdog.headers)
    assert response.status_code == 200
    assert raw_object.encode() in response.content


def post_versions(client: TestClient, world: World, versions: list[str]) -> str:
    """Post one indicator in each of these versions, one POST each, and return its id."""
    author = world.watchdog.identity
    object_id: str = indicator(author)["id"]
    for modified in versions:
        one = indicator(author, object_id=object_id, modified=modified)
        post(client, world.watchdog, world.feed, envelope(one))
    return object_id


def test_latest_version_by_default_and_version_filters(client: TestClient, world: World) -> None:
    versions = [f"2025-0{month}-01T00:00:00.000Z" for month in (1, 3, 2)]
    object_id = post_versions(client, world, versions)
    url = objects_url(world.feed) + object_id + "/"
    headers = world.watchdog.headers

    def modified_of(params: dict[str, str]) -> list[str]:
        page = client.get(url, params=params, headers=headers).json()
        return [o["modified"] for o in page["objects"]]

    assert modified_of({}) == ["2025-03-01T00:00:00.000Z"]
    assert modified_of({"match[version]": "first"}) == ["2025-01-01T00:00:00.000Z"]
    assert modified_of({"match[version]": "all"}) == versions  # date_added order
    assert modified_of({"match[version]": "first,last"}) == versions[:2]
    assert modified_of({"match[version]": "2025-02-01T00:00:00Z"}) == [versions[2]]

    listed = client.get(url + "versions/", headers=headers)
    assert listed.json() == {
        "more": False,
        "versions": [
            "2025-01-01T00:00:00.000000Z",
            "2025-03-01T00:00:00.000000Z",
            "2025-02-01T00:00:00.000000Z",
        ],
    }
    assert "X-TAXII-Date-Added-First" in listed.headers


def test_filters_by_id_type_and_spec_version(client: TestClient, world: World) -> None:
    author = world.watchdog.identity
    first, second = indicator(author, number=1), indicator(author, number=2)
    post(client, world.watchdog, world.feed, envelope(first, second))
    headers = world.watchdog.headers
    url = objects_url(world.feed)

    def ids(params: dict[str, str]) -> list[str]:
        page = client.get(url, params=params, headers=headers).json()
        return [o["id"] for o in page.get("objects", [])]

    assert ids({"match[id]": f"{first['id']},{second['id']}"}) == [first["id"], second["id"]]
    assert ids({"match[type]": "identity"}) == [PROJECT_IDENTITY_ID, author]
    assert ids({"match[type]": "indicator", "match[id]": second["id"]}) == [second["id"]]
    unknown = [f"indicator--{uuid.UUID(int=n)}" for n in range(498)]  # 500 ids: the most
    listed = ",".join([first["id"], *unknown, second["id"]])
    assert ids({"match[id]": listed}) == [first["id"], second["id"]]
    assert ids({"match[spec_version]": "2.0"}) == []
    assert client.get(url, params={"match[type]": "malware"}, headers=headers).json() == {
        "more": False
    }


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "-3"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"added_after": "yesterday"}, "added_after"),
        ({"added_after": "2025-13-01T00:00:00Z"}, "out of range"),
        ({"added_after": "2025-01-01T00:00:99Z"}, "second must be in 0..60"),
        ({"match[id]": "not-an-id"}, "match[id]"),
        ({"match[type]": "Bad_Type"}, "match[type]"),
        ({"match[version]": "all,last"}, "all"),
        ({"match[spec_version]": "3.0"}, "spec_version"),
        ({"match[colour]": "red"}, "match[colour]"),
        ({"match[id]": ",".join([f"indicator--{uuid.UUID(int=n)}" for n in range(501)])}, "501"),
        (
            {
                "match[id]": ",".join([f"indicator--{uuid.UUID(int=n)}" for n in range(400)]),
                "match[version]": ",".join([f"2025-01-01T00:00:{n:02}Z" for n in range(60)]),
                "match[type]": ",".join(["indicator"] * 41),
            },
            "at most 500",
        ),
        ({"next": "forged"}, "next"),
    ],
)
def test_malformed_parameters_are_400(
    client: TestClient, world: World, params: dict[str, str], fragment: str
) -> None:
    response = client.get(objects_url(world.feed), params=params, headers=world.watchdog.headers)
    assert response.status_code == 400
    body = response.json()
    assert body["http_status"] == "400"
    assert body["title"]
    assert fragment in body["description"]


def test_paging_with_next_and_added_after(client: TestClient, world: World) -> None:
    author = world.watchdog.identity
    posted = [indicator(author, number=n) for n in range(120)]
    post(client, world.watchdog, world.feed, envelope(*posted))
    headers = world.watchdog.headers
    url = objects_url(world.feed)

    seen: list[str] = []
    params: dict[str, str] = {"limit": "1000"}  # clamped to the test server's maximum of 50
    while True:
        response = client.get(url, params=params, headers=headers)
        page = response.json()
        assert len(page["objects"]) <= 50
        seen += [o["id"] for o in page["objects"]]
        first = parse_timestamp(response.headers["X-TAXII-Date-Added-First"])
        last = parse_timestamp(response.headers["X-TAXII-Date-Added-Last"])
        assert first <= last
        if not page["more"]:
            assert "next" not in page
            break
        params = {"limit": "1000", "next": page["next"]}
    assert seen == world.feed_seed + [p["id"] for p in posted]

    manifest = client.get(world_manifest(world), params={"limit": "10"}, headers=headers).json()
    stamps = [record["date_added"] for record in manifest["objects"]]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)
    after = client.get(url, params={"added_after": stamps[5]}, headers=headers).json()
    assert after["objects"][0]["id"] == manifest["objects"][6]["id"]


def world_manifest(world: World) -> str:
    return f"/api/collections/{world.feed}/manifest/"


def test_cursor_is_bound_to_query_and_caller(client: TestClient, world: World) -> None:
    post(
        client,
        world.watchdog,
        world.feed,
        envelope(*(indicator(world.watchdog.identity, number=n) for n in range(3))),
    )
    url = objects_url(world.feed)
    page = client.get(url, params={"limit": "1"}, headers=world.watchdog.headers).json()
    token = page["next"]
    other_query = client.get(
        url,
        params={"limit": "1", "next": token, "match[type]": "indicator"},
        headers=world.watchdog.headers,
    )
    assert other_query.status_code == 400
    other_caller = client.get(
        url, params={"limit": "1", "next": token}, headers=world.exchange.headers
    )
    assert other_caller.status_code == 400
    manifest = client.get(
        world_manifest(world), params={"next": token}, headers=world.watchdog.headers
    )
    assert manifest.status_code == 400
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert (
        client.get(url, params={"next": tampered}, headers=world.watchdog.headers).status_code
        == 400
    )


def test_manifest_records(client: TestClient, world: World) -> None:
    obj = indicator(world.watchdog.identity, number=1, modified="2025-02-03T04:05:06.789Z")
    post(client, world.watchdog, world.feed, envelope(obj))
    response = client.get(
        world_manifest(world), params={"match[id]": obj["id"]}, headers=world.watchdog.headers
    )
    (record,) = response.json()["objects"]
    assert record["version"] == "2025-02-03T04:05:06.789000Z"
    assert record["media_type"] == "application/stix+json;version=2.1"
    assert record["date_added"] == response.headers["X-TAXII-Date-Added-First"]


def test_delete_object_and_versions(client: TestClient, world: World) -> None:
    object_id = post_versions(client, world, ["2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z"])
    url = objects_url(world.feed) + object_id + "/"
    headers = world.watchdog.headers
    deleted = client.delete(url, params={"match[version]": "2025-02-01T00:00:00Z"}, headers=headers)
    assert deleted.status_code == 200
    latest = client.get(url, headers=headers).json()["objects"]
    assert [o["modified"] for o in latest] == ["2025-01-01T00:00:00Z"]
    assert client.delete(url, headers=headers).status_code == 200
    assert client.get(url, headers=headers).status_code == 404
    assert client.delete(url, headers=headers).status_code == 404
    # An exchange may read the feed but not write it, so it may not delete.
    assert client.delete(url, headers=world.exchange.headers).status_code == 403


def test_unknown_object_is_404(client: TestClient, world: World) -> None:
    url = objects_url(world.feed) + "indicator--00000000-0000-4000-8000-000000000000/"
    response = client.get(url, headers=world.watchdog.headers)
    assert response.status_code == 404
    assert response.json()["http_status"] == "404"
    assert client.get(url + "versions/", headers=world.watchdog.headers).status_code == 404


def test_status_without_slash_and_only_for_its_creator(client: TestClient, world: World) -> None:
    status = post(client, world.watchdog, world.feed, envelope(indicator(world.watchdog.identity)))
    assert "failures" not in status, "TAXII forbids empty lists"
    assert (
        client.get(f"/api/status/{status['id']}", headers=world.watchdog.headers).json() == status
    )
    assert client.get(status_url(status["id"]), headers=world.exchange.headers).status_code == 404
    assert client.get(status_url("nope"), headers=world.watchdog.headers).status_code == 404


def test_status_is_kept_24_hours_then_404(client: TestClient, world: World) -> None:
    status = post(client, world.watchdog, world.feed, envelope(indicator(world.watchdog.identity)))
    store = client.app.state.store  # type: ignore[attr-defined]
    hour = 3600 * 1_000_000

    def age_to(hours: float) -> int:
        with store.writing() as session:
            session.execute(
                update(StatusRecord)
                .where(col(StatusRecord.id) == status["id"])
                .values(request_timestamp=now_micros() - int(hours * hour))
            )
        code: int = client.get(status_url(status["id"]), headers=world.watchdog.headers).status_code
        return code

    assert age_to(23.9) == 200
    assert age_to(24.1) == 404

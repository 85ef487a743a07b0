"""taxii2-client against a real `feed serve` process: what an exchange or a watchdog using the
reference client sees, end to end."""

import pytest
from requests import HTTPError
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from tests.conftest import Member, World
from tests.stix_objects import envelope, indicator


def credentials(member: Member) -> dict[str, str]:
    return {"user": member.key_id, "password": member.bearer.split(".", 1)[1]}


def feed_collection(base_url: str, world: World, member: Member) -> Collection:
    return Collection(f"{base_url}/api/collections/{world.feed}/", **credentials(member))


def test_publish_and_poll_with_taxii2_client(base_url: str, world: World) -> None:
    server = Server(f"{base_url}/taxii2/", **credentials(world.watchdog))
    (api_root,) = server.api_roots
    assert api_root.url == f"{base_url}/api/"
    assert api_root.max_content_length > 0
    feed = next(c for c in api_root.collections if c.id == world.feed)
    assert feed.can_write

    author = world.watchdog.identity
    posted = [indicator(author, number=n) for n in range(130)]
    status = feed.add_objects(envelope(*posted))
    assert status.status == "complete"
    assert status.success_count == 130

    poller = feed_collection(base_url, world, world.exchange)
    pages = list(as_pages(poller.get_objects, per_request=50))
    assert len(pages) == 3
    ids = [o["id"] for page in pages for o in page["objects"]]
    assert ids == world.feed_seed + [p["id"] for p in posted]

    manifest = as_pages(poller.get_manifest, per_request=50)
    stamps = [record["date_added"] for page in manifest for record in page["objects"]]
    assert len(stamps) == len(ids)
    newer = as_pages(poller.get_objects, per_request=50, added_after=stamps[100])
    assert [o["id"] for page in newer for o in page["objects"]] == ids[101:]

    revised = indicator(
        author, object_id=posted[0]["id"], modified="2025-06-01T00:00:00.000Z", revoked=True
    )
    assert feed.add_objects(envelope(revised)).success_count == 1
    latest = poller.get_objects(added_after=stamps[-1])
    assert [o["id"] for o in latest["objects"]] == [posted[0]["id"]]
    assert latest["objects"][0]["revoked"] is True
    versions = poller.object_versions(posted[0]["id"])
    assert versions["versions"] == ["2025-01-01T00:00:00.000000Z", "2025-06-01T00:00:00.000000Z"]
    assert (
        poller.get_object(posted[0]["id"])["objects"][0]["modified"] == "2025-06-01T00:00:00.000Z"
    )

    feed.delete_object(posted[1]["id"])
    with pytest.raises(HTTPError) as gone:
        poller.get_object(posted[1]["id"])
    assert gone.value.response.status_code == 404


def test_status_is_polled_by_taxii2_client(base_url: str, world: World) -> None:
    feed = feed_collection(base_url, world, world.watchdog)
    status = feed.add_objects(
        envelope(indicator(world.watchdog.identity)), wait_for_completion=False
    )
    status.refresh()  # GET status/{id} without the trailing slash, as the client builds it
    assert status.status == "complete"
    assert (
        ApiRoot(f"{base_url}/api/", **credentials(world.watchdog))
        .get_status(status.id)
        .success_count
        == 1
    )


def test_callers_without_rights(base_url: str, world: World) -> None:
    def status_of(member: Member | None, action: str) -> int:
        kwargs = credentials(member) if member else {}
        collection = Collection(
            f"{base_url}/api/collections/{world.feed}/",
            collection_info={
                "id": world.feed,
                "title": "feed",
                "can_read": True,
                "can_write": True,
            },
            **kwargs,
        )
        call = (
            collection.get_objects
            if action == "read"
            else lambda: collection.add_objects(envelope(indicator(world.outsider.identity)))
        )
        with pytest.raises(HTTPError) as refused:
            call()
        code: int = refused.value.response.status_code
        return code

    assert status_of(None, "read") == 401
    assert status_of(world.exchange, "write") == 403
    assert status_of(world.outsider, "read") == 404
    assert status_of(world.other_watchdog, "write") == 404

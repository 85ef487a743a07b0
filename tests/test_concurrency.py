"""No object is ever missed by a poller: two publishers post at once to a server with two
worker processes while a poller continues with `added_after` and `next`."""

import threading
from collections import Counter

import httpx2

from feed.config import Settings
from feed.taxii import TAXII_MEDIA_TYPE
from tests.conftest import World
from tests.serving import serving
from tests.stix_objects import envelope, indicator

ENVELOPES = 15
PER_ENVELOPE = 8


def test_poller_sees_every_object_exactly_once(settings: Settings, world: World) -> None:
    posted: list[str] = []
    failures: list[str] = []
    done = threading.Event()

    with serving(settings, workers=2) as base:
        url = f"{base}/api/collections/{world.feed}/objects/"
        publish_headers = {**world.watchdog.headers, "Content-Type": TAXII_MEDIA_TYPE}

        def publish(publisher: int) -> None:
            with httpx2.Client(timeout=30) as http:
                for batch in range(ENVELOPES):
                    objects = [
                        indicator(
                            world.watchdog.identity, number=publisher * 10_000 + batch * 100 + n
                        )
                        for n in range(PER_ENVELOPE)
                    ]
                    response = http.post(url, json=envelope(*objects), headers=publish_headers)
                    if (
                        response.status_code != 202
                        or response.json()["success_count"] != PER_ENVELOPE
                    ):
                        failures.append(response.text)
                    posted.extend(o["id"] for o in objects)

        seen: list[str] = []

        def poll_once(http: httpx2.Client, added_after: str | None) -> str | None:
            params: dict[str, str] = {"limit": "7"}
            if added_after:
                params["added_after"] = added_after
            while True:
                response = http.get(url, params=params, headers=world.exchange.headers)
                assert response.status_code == 200, response.text
                page = response.json()
                seen.extend(o["id"] for o in page.get("objects", []))
                added_after = response.headers.get("X-TAXII-Date-Added-Last", added_after)
                if not page["more"]:
                    return added_after
                params["next"] = page["next"]

        publishers = [threading.Thread(target=publish, args=(n,)) for n in range(2)]
        for thread in publishers:
            thread.start()
        with httpx2.Client(timeout=30) as http:
            marker = None
            while not done.is_set():
                if not any(thread.is_alive() for thread in publishers):
                    done.set()  # one more poll after the last commit
                marker = poll_once(http, marker)
        for thread in publishers:
            thread.join()

    assert failures == []
    counts = Counter(seen)
    assert [i for i, n in counts.items() if n > 1] == []
    assert set(posted) <= set(counts)
    assert len(posted) == 2 * ENVELOPES * PER_ENVELOPE

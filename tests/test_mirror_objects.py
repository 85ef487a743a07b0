"""What a polled object does to the mirror, whatever the feed's server sent: an indicator the
mirror cannot keep fails alone, with a reason fit for an acknowledgement, and the version held
stays active."""

from typing import Any

import pytest
from hypothesis import given, settings

from feed.addresses import parse_address
from feed.mirror import Mirror
from feed.stix import EXTENSION_ID
from feed.taxii import MAX_REASON, is_object_id, normalise_version
from tests.test_mirror import BTC
from tests.test_stix import CHANGES, EXTENSION_CHANGES, built, flag


def _mirrored(*pages: list[dict[str, Any]]) -> tuple[Mirror, list[dict[str, str]]]:
    """A mirror in memory that applied `pages` of one feed; and what it rejected."""
    mirror = Mirror(":memory:")
    mirror.register("f", "http://127.0.0.1/", "Feed", None)
    rejected = []
    for page in pages:
        applied = mirror.apply("f", page, watermark=None, next_token=None, next_added_after=None)
        rejected += applied.rejected
    return mirror, rejected


@settings(max_examples=300, deadline=None)
@given(EXTENSION_CHANGES, CHANGES)
def test_any_json_in_any_field_of_a_polled_indicator_fails_it_alone(
    in_extension: list[tuple[str, Any]], changes: list[tuple[str, Any]]
) -> None:
    # Whatever a feed's server sends, the page is applied: one bad object that stopped it
    # would stop every later flag from reaching the exchange, page after page.
    value = built(flag())
    value["extensions"][EXTENSION_ID].update(in_extension)
    value.update(changes)
    beside = built(flag(address=parse_address(BTC, "BTC")))
    mirror, rejected = _mirrored([value, beside, {"type": "identity", **dict(changes)}])
    with mirror:
        assert mirror.screener().screen(BTC) != []
    for outcome in rejected:  # what the server takes in an acknowledgement
        assert is_object_id(outcome["id"])
        assert 0 < len(outcome["reason"]) <= MAX_REASON


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"revoked": "yes"}, "revoked 'yes' is not true or false"),
        ({"revoked": "y" * 5000}, "revoked '" + "y" * 56 + "... is not true or false"),
        ({"confidence": 101}, "confidence 101 is not a whole number"),
        ({"created_by_ref": ["identity--x"]}, "created_by_ref ['identity--x'] is not"),
        ({"valid_until": "soon"}, "valid_until 'soon' is not a UTC timestamp"),
    ],
)
def test_a_malformed_new_version_leaves_the_one_held_active(
    change: dict[str, Any], fragment: str
) -> None:
    held = built(flag(address=parse_address(BTC, "BTC")))
    newer = {**held, **change, "modified": "2099-01-01T00:00:00.000Z"}
    mirror, rejected = _mirrored([held], [newer])
    with mirror:
        assert [m.version for m in mirror.screener().screen(BTC)] == [
            normalise_version(held["modified"])
        ]
    assert [(o["id"], o["version"]) for o in rejected] == [
        (held["id"], "2099-01-01T00:00:00.000000Z")
    ]
    assert fragment in rejected[0]["reason"]

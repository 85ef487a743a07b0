"""Hits as a watchdog reads them: the sightings exchanges reported of its feed's indicators,
each with the reporting exchange's name and the address its indicator flags.

The server holds a report to its poster's own identity and to an object of the feed; what it
sends back is still read as a remote's text, so a property of a form it should not have is
shown as missing rather than trusted."""

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from feed.client import FeedClient
from feed.stix import extension_properties

# Indicators looked up a request at a time, by match[id]: their ids stay well inside the
# length of a request line that servers take.
IDS_PER_REQUEST = 100


@dataclass(frozen=True)
class Hit:
    """The latest version of one exchange's report of one run of sightings."""

    sighting_id: str
    exchange: str  # its organisation's name; its identity where the server names none
    identity: str
    indicator_id: str | None
    chain: str | None  # CAIP-2, as the indicator's extension names it
    address: str | None
    category: str | None
    count: int | None
    first_seen: str | None
    last_seen: str | None
    reported: str | None  # the version's `modified`

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _text(value: dict[str, Any], name: str) -> str | None:
    found = value.get(name)
    return found if isinstance(found, str) else None


def reported_hits(client: FeedClient, added_after: str | None = None) -> list[Hit]:
    """The hits reported on `client`'s feed, which its key must own, oldest report first;
    with `added_after`, those reported since."""
    sightings = list(client.sightings(added_after))
    subscribers = client.acknowledgements()["subscribers"]
    names = {s["identity"]: s["organisation"] for s in subscribers}
    wanted = sorted({i for i in (_text(s, "sighting_of_ref") for s in sightings) if i})
    flagged = dict(_flagged(client, wanted))
    return [_hit(sighting, names, flagged) for sighting in sightings]


def _flagged(client: FeedClient, ids: list[str]) -> Iterable[tuple[str, dict[str, Any]]]:
    """Each of these objects of the feed, by id, with our extension's properties."""
    for start in range(0, len(ids), IDS_PER_REQUEST):
        for value in client.objects(id=",".join(ids[start : start + IDS_PER_REQUEST])):
            yield value["id"], extension_properties(value) or {}


def _hit(sighting: dict[str, Any], names: dict[str, str], flagged: dict[str, Any]) -> Hit:
    identity = _text(sighting, "created_by_ref") or ""
    indicator_id = _text(sighting, "sighting_of_ref")
    extension = flagged.get(indicator_id or "", {})
    count = sighting.get("count")
    return Hit(
        sighting_id=str(sighting.get("id")),
        exchange=names.get(identity, identity),
        identity=identity,
        indicator_id=indicator_id,
        chain=_text(extension, "chain"),
        address=_text(extension, "address"),
        category=_text(extension, "category"),
        count=count if type(count) is int else None,
        first_seen=_text(sighting, "first_seen"),
        last_seen=_text(sighting, "last_seen"),
        reported=_text(sighting, "modified"),
    )

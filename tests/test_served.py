"""How far each subscriber has been served: a poll is written down only when its watermark
moves or its last poll is old, with the read's audit event in the same write, and the
watermark read when the request is authenticated."""

from feed import audit
from feed.accounts import authenticate
from feed.served import POLL_RECORD_INTERVAL, Served, poll_record_due, record_served
from feed.store import Store
from feed.tables import Delivery
from tests.conftest import World

NOW = 1_800_000_000_000_000


def test_a_poll_is_written_down_when_its_watermark_moves_or_its_last_poll_is_old() -> None:
    assert poll_record_due(None, None, NOW)  # its first poll, even of nothing
    assert poll_record_due(None, 5, NOW)
    recent = Served(through=5, last_poll=NOW - 1)
    assert poll_record_due(recent, 6, NOW)
    assert not poll_record_due(recent, 5, NOW)
    assert not poll_record_due(recent, 4, NOW)  # a page from before: nothing moves
    assert not poll_record_due(recent, None, NOW)
    assert poll_record_due(Served(5, NOW - POLL_RECORD_INTERVAL), None, NOW)
    assert not poll_record_due(Served(5, NOW - POLL_RECORD_INTERVAL + 1), None, NOW)
    assert poll_record_due(Served(5, None), None, NOW)  # no poll noted yet


def _served(store: Store, world: World) -> Delivery | None:
    with store.reading() as session:
        return session.get(Delivery, (world.feed, world.exchange.id))


def _reads(store: Store, world: World) -> list[audit.Entry]:
    with store.reading() as session:
        return audit.query(session, organisation_id=world.exchange.id, action=audit.Action.READ)


def test_a_served_watermark_never_moves_back_and_its_read_is_audited_in_the_same_write(
    store: Store, world: World
) -> None:
    ids = [f"indicator--{n:08d}-0000-4000-8000-000000000000" for n in range(60)]
    read = audit.event(world.exchange.id, audit.Action.READ, world.feed, ids, at=NOW, note="n")
    with store.writing_one_statement() as session:
        record_served(session, world.feed, world.exchange.id, 20, NOW, event=read)
    delivery = _served(store, world)
    assert delivery is not None
    assert (delivery.served_through, delivery.last_poll) == (20, NOW)
    (entry,) = _reads(store, world)
    assert entry.count == 60
    assert entry.detail.endswith(f"{ids[49]} (+10 more); n")

    with store.writing_one_statement() as session:  # an older page, later: only the poll moves
        record_served(session, world.feed, world.exchange.id, 10, NOW + 1)
    delivery = _served(store, world)
    assert delivery is not None
    assert (delivery.served_through, delivery.last_poll) == (20, NOW + 1)
    assert len(_reads(store, world)) == 1


def _served_as_authenticated(store: Store, world: World, collection_id: str) -> Served | None:
    secret = world.exchange.bearer.split(".", 1)[1]
    with store.reading() as session:
        found = authenticate(session, world.exchange.key_id, secret, collection_id)
    assert found is not None
    assert found.access is not None
    return found.access.served


def test_the_watermark_is_read_with_the_caller_and_its_rights(store: Store, world: World) -> None:
    assert _served_as_authenticated(store, world, world.feed) is None  # never polled
    with store.writing_one_statement() as session:
        record_served(session, world.feed, world.exchange.id, 7, NOW)
    assert _served_as_authenticated(store, world, world.feed) == Served(7, NOW)
    # Another collection's watermark is its own.
    assert _served_as_authenticated(store, world, world.reports) is None

"""Reading pages: rows read by position hold the columns their positions name, those a page
does not read as None; each body comes back as the exact bytes it was received as; what a
page with match[id] costs does not depend on the collection's size (on SQLite, whose
statistics are taken once, while a feed is small)."""

import orjson
import pytest
from sqlalchemy import select

from feed.pages import (
    ALL_COLUMNS,
    BODY,
    DATE_ADDED,
    MANIFEST_COLUMNS,
    OBJECT_COLUMNS,
    OBJECT_ID,
    SPEC_VERSION,
    VERSION,
    VERSION_COLUMNS,
    read_page,
    stored_json,
)
from feed.store import Store
from feed.tables import OBJECTS
from feed.taxii import Filters, Page
from feed.versions import Candidate, add_objects
from tests.conftest import World
from tests.sqlite_steps import counting_steps
from tests.stix_objects import indicator


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_page_of_chosen_ids_reads_no_more_of_a_collection_grown_since_analysed(
    store: Store, world: World
) -> None:
    def add(count: int) -> list[str]:
        """As a POST does."""
        objects = [indicator(world.watchdog.identity, number=n) for n in range(count)]
        with store.writing() as session:
            add_objects(session, world.feed, [Candidate.of(o) for o in objects])
        store.ensure_statistics()
        return [o["id"] for o in objects]

    chosen = add(200)
    filters = Filters(ids=tuple(chosen))

    def steps_to_read() -> int:
        with store.reading() as session, counting_steps(session) as steps:
            rows, more = read_page(session, world.feed, filters, Page(limit=1000, after=None))
        assert (sorted(row[OBJECT_ID] for row in rows), more) == (sorted(chosen), False)
        return steps()

    small = steps_to_read()
    for _ in range(5):
        add(1000)
    assert steps_to_read() < 1.2 * small


def test_a_page_row_holds_each_column_at_the_position_named_for_it(
    store: Store, world: World
) -> None:
    value = indicator(world.watchdog.identity)
    candidate = Candidate.of(value)
    with store.writing() as session:
        add_objects(session, world.feed, [candidate])
    with store.reading() as session:
        filters = Filters(ids=(value["id"],))
        rows, _ = read_page(session, world.feed, filters, Page(limit=10, after=None))
        stored = session.connection().execute(
            select(OBJECTS.c.date_added).where(OBJECTS.c.object_id == value["id"])
        )
        date_added = stored.scalar_one()
    [row] = rows
    assert len(row) == 5
    assert row[DATE_ADDED] == date_added
    assert (row[OBJECT_ID], row[VERSION], row[SPEC_VERSION]) == (
        value["id"],
        candidate.version,
        "2.1",
    )
    assert orjson.loads(stored_json(row)) == value


@pytest.mark.parametrize("columns", [OBJECT_COLUMNS, VERSION_COLUMNS, MANIFEST_COLUMNS])
def test_a_page_reads_only_the_columns_asked_for_and_always_date_added(
    store: Store, world: World, columns: frozenset[int]
) -> None:
    objects = [indicator(world.watchdog.identity, number=n) for n in range(3)]
    with store.writing() as session:
        add_objects(session, world.feed, [Candidate.of(o) for o in objects])
    page = Page(limit=10, after=None)
    with store.reading() as session:
        [whole, part] = (
            read_page(session, world.feed, Filters(), page, columns=read)[0]
            for read in (ALL_COLUMNS, columns - {DATE_ADDED})
        )
    assert [tuple(row) for row in part] == [
        tuple(value if at in columns else None for at, value in enumerate(row)) for row in whole
    ]
    assert all(value is not None for row in whole for value in row)


def test_a_body_comes_back_as_the_bytes_it_was_received_as(store: Store, world: World) -> None:
    value = indicator(world.watchdog.identity)
    value["description"] = 'Zürich 🦀 "quoted" back\\slash \\x41 \\000 tab\tend'
    # Escapes as a sender may write them, not as orjson would: the stored bytes are served.
    raw = orjson.dumps(value).replace("ü".encode(), b"\\u00fc").replace(b"\\t", b"\\u0009")
    assert orjson.loads(raw) == value
    with store.writing() as session:
        add_objects(session, world.feed, [Candidate.of(value, raw)])
    with store.reading() as session:
        filters = Filters(ids=(value["id"],))
        rows, _ = read_page(session, world.feed, filters, Page(limit=10, after=None))
    assert [stored_json(row) for row in rows] == [raw]
    if store.engine.dialect.name == "sqlite":  # handed over undecoded, for pages to splice
        assert isinstance(rows[0][BODY], bytes)

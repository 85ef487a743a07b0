"""Finding what is stored of the objects a POST names: through the unique key of versions,
whatever the planner's statistics say."""

from typing import Any

import pytest
from sqlalchemy import text

import feed.stored
from feed.store import Store
from feed.versions import Candidate, add_objects
from tests.conftest import World
from tests.sqlite_steps import counting_steps
from tests.stix_objects import indicator


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_finding_stored_versions_reads_no_more_of_a_collection_grown_since_analysed(
    store: Store, world: World
) -> None:
    """With statistics taken while a feed was small (Store.ensure_statistics takes them again
    only as it grows fourfold), looking up an envelope's ids must not read the collection."""
    resent = [indicator(world.watchdog.identity, number=n) for n in range(400)]

    def steps_to_add(objects: list[dict[str, Any]]) -> int:
        with store.writing() as session, counting_steps(session) as steps:
            outcomes = add_objects(session, world.feed, [Candidate.of(o) for o in objects])
        assert [outcome.failure for outcome in outcomes] == [None] * len(objects)
        return steps()

    steps_to_add(resent)
    store.ensure_statistics()
    small = steps_to_add(resent)  # each version found stored and compared, nothing written
    for batch in range(5):
        steps_to_add([indicator(world.watchdog.identity, number=batch) for _ in range(1000)])
    assert steps_to_add(resent) < 1.2 * small


def test_ids_are_looked_up_through_the_unique_key_of_versions(store: Store, world: World) -> None:
    """Whatever the statistics say of the feed: they are taken here while it holds a few
    objects beside another of thousands, as a new feed's are among millions."""
    other = [indicator(world.other_watchdog.identity, number=n) for n in range(2000)]
    with store.writing() as session:
        add_objects(session, world.other_feed, [Candidate.of(o) for o in other])
    with store.engine.connect() as connection:
        dialect = connection.dialect.name
        connection.exec_driver_sql("ANALYZE")
        explain = "EXPLAIN " if dialect == "postgresql" else "EXPLAIN QUERY PLAN "
        lookup = feed.stored._PROBE_VERSIONS[dialect].text
        parameters = {"ids": '["indicator--00000001"]', "collection": world.feed, "created": True}
        rows = connection.execute(text(explain + lookup), parameters).all()
    plan = "\n".join(row[-1].split("  (cost=")[0].strip() for row in rows)
    searched = {
        "postgresql": "Index Scan using uq_object_version_version on object_version\n"
        "Index Cond: ((((collection_id)::text || ''::text) = '"
        + world.feed
        + "'::text) AND ((object_id)::text = wanted.id))",
        "sqlite": "USING INDEX uq_object_version_version (<expr>=? AND object_id=?)",
    }
    assert searched[dialect] in plan, plan

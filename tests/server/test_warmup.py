"""A server process compiles the statements nearly every request runs before it takes one."""

import logging

import pytest

from feed.accounts import authenticate
from feed.limits import MINUTE
from feed.pages import OBJECT_COLUMNS, read_page
from feed.server.warmup import warm_up
from feed.store import Store
from feed.taxii import Cursor, Filters, Page, now_micros
from tests.conftest import World


def test_a_poll_after_warming_up_compiles_nothing(
    store: Store, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    warm_up(store)
    minute = now_micros() // MINUTE if store.counts_beside_callers else None
    secret = world.exchange.bearer.split(".", 1)[1]
    logged = caplog.at_level(logging.INFO, logger="sqlalchemy.engine.Engine")
    with logged, store.reading() as session:
        found = authenticate(
            session, world.exchange.key_id, secret, world.feed, counted_minute=minute
        )
        assert found is not None
        for filters in (Filters(), Filters(added_after=1)):
            for after in (None, Cursor(1)):
                read_page(session, world.feed, filters, Page(10, after), columns=OBJECT_COLUMNS)
    # SQLAlchemy says of each statement whether it compiled it or found it compiled.
    statements = [r.getMessage() for r in caplog.records if "generated in" in r.getMessage()
                  or "cached since" in r.getMessage()]  # fmt: skip
    assert len(statements) == 5
    assert not [s for s in statements if "generated in" in s]

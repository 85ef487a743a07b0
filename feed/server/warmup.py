"""Warming up a server process before it takes requests: the statements nearly every request
runs are compiled once at start, over ids that nothing has, so the first requests after a
start do not each compile one. Over PostgreSQL, compiling the authentication took 10 ms and
a page's read 2, in every worker process."""

from feed.accounts import authenticate
from feed.limits import MINUTE
from feed.pages import OBJECT_COLUMNS, read_page
from feed.store import Store
from feed.taxii import Cursor, Filters, Page, now_micros

# The shapes of page a poller reads: with added_after or without, after a `next` or not.
_POLLS = [
    (filters, after)
    for filters in (Filters(), Filters(added_after=0))
    for after in (None, Cursor(0))
]


def warm_up(store: Store) -> None:
    """Run, matching nothing, the authentication of a request outside a collection and of one
    for a collection (counting it too where that statement does, see `Store.counting`), and
    each shape of poll."""
    minute = now_micros() // MINUTE if store.counts_beside_callers else None
    with store.reading() as session:
        for collection_id in (None, ""):
            authenticate(session, "", "", collection_id, counted_minute=minute)
        for filters, after in _POLLS:
            read_page(session, "", filters, Page(1, after), columns=OBJECT_COLUMNS)

"""Polling: fetching a feed's new pages into the mirror, from where the last poll stopped,
and acknowledging each page once it is durably applied. A server whose pages do not advance,
or that keeps answering empty pages saying more follow, stops the poll with a reason rather
than keep the poller asking for ever."""

from collections.abc import Callable
from dataclasses import dataclass

from feed.client import FeedClient
from feed.errors import RemoteError
from feed.mirror import Mirror


@dataclass
class Polled:
    feed: str
    pages: int = 0
    objects: int = 0
    indicators: int = 0
    left: int = 0
    ignored: int = 0


# Pages that are empty yet say more follow, in a row, before a poll stops: a server that
# kept answering so, with a new cursor each time, would keep a poller asking for ever.
EMPTY_PAGES_IN_A_ROW = 100


def poll(
    client: FeedClient,
    mirror: Mirror,
    on_page: Callable[[Polled], None] | None = None,
    *,
    acknowledge: bool = True,
) -> Polled:
    """Fetch everything new in the client's feed into the mirror, page by page, from where the
    last poll stopped; after each page is durably applied, acknowledge it (with the objects
    the mirror rejected, and why), unless told not to."""
    collection = client.collection
    mirror.register(collection.id, client.url, collection.title, collection.alias)
    polled = Polled(collection.alias or collection.id)
    watermark, next_token, next_added_after = mirror.cursor(collection.id)
    empty_in_a_row = 0
    while True:
        added_after = next_added_after if next_token else watermark
        try:
            page = client.page(added_after=added_after, next_token=next_token)
        except RemoteError as error:
            if next_token is None or error.status != 400:
                raise
            next_token = None  # a cursor the server no longer takes: go on from the watermark
            continue
        more = page.more and page.next is not None
        if more and page.next == next_token:
            raise RemoteError(
                f"{client.url} answered `next` {next_token!r} with the same `next` again: its "
                "pages do not advance"
            )
        applied = mirror.apply(
            collection.id,
            page.objects,
            watermark=page.date_added_last,
            next_token=page.next if more else None,
            next_added_after=added_after if more else None,
        )
        if acknowledge and (page.date_added_last or watermark):
            through = page.date_added_last or watermark
            assert through is not None
            client.acknowledge(through, applied.rejected)
        polled.pages += 1
        polled.objects += applied.objects
        polled.indicators += applied.indicators
        polled.left += applied.left
        polled.ignored += applied.ignored
        if on_page is not None:
            on_page(polled)
        if not more:
            return polled
        empty_in_a_row = 0 if page.objects else empty_in_a_row + 1
        if empty_in_a_row == EMPTY_PAGES_IN_A_ROW:
            raise RemoteError(
                f"{client.url} answered {empty_in_a_row} empty pages in a row, each saying more "
                "follow: the poll stops here, and the next one goes on from the last cursor"
            )
        watermark = page.date_added_last or watermark
        next_token, next_added_after = page.next, added_after

"""The TAXII client side of a feed, over taxii2-client (the one module that imports it): find a
feed, read it page by page with `next`, post envelopes that fit the server's limit, and call
our extension endpoints.

What a server asks to be retried (429 and 503, after Retry-After), what a dropped connection
interrupted and what got no answer in time are retried with backoff. Posting is idempotent
(exact duplicates succeed), so a retried POST cannot duplicate anything. Every request has a
deadline (`feed.transport`)."""

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import requests
from taxii2client.common import _HTTPConnection
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import MEDIA_TYPE_TAXII_V21, ApiRoot, Collection, Server

from feed.envelope import envelopes
from feed.errors import ConfigurationError, FeedError, RemoteError
from feed.stix import build_sighting
from feed.taxii import parse_timestamp, reports_alias
from feed.transport import ANSWER_TIMEOUT, bounded, described, unreachable

T = TypeVar("T")
RETRIED_STATUSES = frozenset({429, 502, 503, 504})
PAGE_SIZE = 1000
# Addresses a lookup request carries: the most a server of ours takes in one.
LOOKUP_BATCH = 1000


@dataclass(frozen=True)
class Page:
    """One page of objects, with what continues it: `next` while `more`, and the date_added of
    its last object (X-TAXII-Date-Added-Last), from which a later poll goes on."""

    objects: list[Any]  # as the server sent them: a mirror takes only those it can
    more: bool
    next: str | None
    date_added_last: str | None


@dataclass(frozen=True)
class Outcome:
    """What the server said of one posted object: `failure` is None when it was stored."""

    object_id: str
    version: str | None
    failure: str | None


def split_key(key: str) -> tuple[str, str]:
    key_id, separator, secret = key.strip().partition(".")
    if not separator or not key_id or not secret:
        raise ConfigurationError("an API key has the form <key id>.<secret>")
    return key_id, secret


def _discovery(url: str, user: str, password: str, timeout: float) -> Server:
    server = Server(url.rstrip("/") + "/taxii2/", user=user, password=password)
    bounded(server._conn.session, timeout)
    return server


def _api_roots(server: Server, timeout: float, call: Callable[..., Any]) -> list[ApiRoot]:
    """The server's API roots, each of whose sessions (taxii2-client gives every root its
    own, shared by its collections) bounded as the server's is. No discovery at all most
    often means a URL with a path in it, such as an API root's."""
    try:
        roots: list[ApiRoot] = call(lambda: server.api_roots)
    except RemoteError as error:
        if error.status != 404:
            raise
        raise RemoteError(
            f"{error.description} (TAXII discovery is looked for at /taxii2/ beneath the URL: "
            "give the server's address, without a path)",
            status=error.status,
        ) from None
    for root in roots:
        bounded(root._conn.session, timeout)
    return roots


class FeedClient:
    """One feed (a TAXII collection, by id or alias) on one server, as one organisation."""

    def __init__(
        self,
        url: str,
        key: str,
        feed: str,
        *,
        retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = ANSWER_TIMEOUT,
    ) -> None:
        self.url = url.rstrip("/")
        user, password = split_key(key)
        # taxii2-client hands API roots the user and password, not a shared connection; our
        # extension endpoints get a connection of their own.
        self._connection = _HTTPConnection(user, password, version="2.1")
        bounded(self._connection.session, timeout)
        self._retries = retries
        self._sleep = sleep
        self._server = _discovery(url, user, password, timeout)
        for root in _api_roots(self._server, timeout, self._call):
            for collection in self._call(getattr, root, "collections"):
                if feed in (collection.id, collection.alias):
                    self.api_root: ApiRoot = root
                    self.collection: Collection = collection
                    return
        raise ConfigurationError(f"{url} has no collection {feed!r} that this key may use")

    @property
    def max_content_length(self) -> int:
        return int(self._call(lambda: self.api_root.max_content_length))

    def identity(self) -> dict[str, Any]:
        """This organisation's STIX identity, which its objects name as `created_by_ref`."""
        url = self.api_root.url + "identity/"
        identity: dict[str, Any] = self._call(lambda: self._connection.get(url))
        return identity

    def objects(self, **filters: str) -> Iterator[dict[str, Any]]:
        """Every object of the feed the filters select (latest versions unless told
        otherwise), oldest first, one page at a time."""
        return self._objects(self.collection, filters)

    def sightings(self, added_after: str | None = None) -> Iterator[dict[str, Any]]:
        """The latest version of each sighting in the feed's reports collection, which only
        the feed's owner reads; with `added_after`, those reported since."""
        since = {} if added_after is None else {"added_after": added_after}
        return self._objects(self.reports(reading=True), {"type": "sighting", **since})

    def _objects(self, collection: Collection, filters: dict[str, str]) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            query = dict(filters, limit=str(PAGE_SIZE))
            if token is not None:
                query["next"] = token
            page = self._call(collection.get_objects, **query)
            yield from page.get("objects", [])
            if not page.get("more"):
                return
            token = page["next"]

    def page(
        self, *, added_after: str | None = None, next_token: str | None = None, **filters: str
    ) -> Page:
        """One page of objects. taxii2-client returns bodies without their headers, and a poller
        needs X-TAXII-Date-Added-Last, so this GET goes through its session directly."""
        params = {f"match[{name}]": value for name, value in filters.items()}
        params["limit"] = str(PAGE_SIZE)
        if added_after is not None:
            params["added_after"] = added_after
        if next_token is not None:  # a cursor belongs to the query it continues: same filters
            params["next"] = next_token
        response = self._call(self._get, self.collection.objects_url, params)
        body = response.json()
        objects = body.get("objects", []) if isinstance(body, dict) else None
        following = body.get("next") if isinstance(body, dict) else None
        if not isinstance(objects, list) or not isinstance(following, str | None):
            raise RemoteError(
                f"{response.url} answered with no TAXII envelope (an `objects` list and a "
                f"string `next`): {response.text[:200]}"
            )
        last = response.headers.get("X-TAXII-Date-Added-Last")
        try:
            if last is not None:  # a poller goes on from it: a bad one would fail every poll
                parse_timestamp(last, field="X-TAXII-Date-Added-Last")
        except FeedError as error:
            raise RemoteError(f"{response.url} answered {error.description}") from None
        return Page(objects, bool(body.get("more")), following, last)

    def acknowledge(
        self, through: str, outcomes: list[dict[str, str]] | None = None
    ) -> dict[str, Any]:
        """Tell the server every object up to date_added `through` is durably applied (with
        optional per-object outcomes); returns this organisation's state."""
        body = json.dumps({"through": through, "outcomes": outcomes or []})
        url = self.collection.url + "acknowledgements/"
        response = self._call(self._send, "POST", url, body)
        state: dict[str, Any] = response.json()
        return state

    def acknowledgements(self, object_id: str | None = None) -> dict[str, Any]:
        """The acknowledgement state this organisation may see: every subscriber's for the
        feed's owner, its own otherwise; with `object_id`, that object's receipts."""
        url = self.collection.url + "acknowledgements/" + (f"{object_id}/" if object_id else "")
        state: dict[str, Any] = self._call(self._send, "GET", url, None).json()
        return state

    def _send(self, method: str, url: str, body: str | None) -> requests.Response:
        return _sent(self._connection.session, method, url, body)

    def _get(self, url: str, params: dict[str, str]) -> requests.Response:
        session: requests.Session = self._connection.session
        response = session.get(url, params=params, headers={"Accept": MEDIA_TYPE_TAXII_V21})
        response.raise_for_status()
        content_type = response.headers.get("Content-Type", "")
        if not self._connection.valid_content_type(content_type, MEDIA_TYPE_TAXII_V21):
            raise TAXIIServiceException(f"{url} answered with Content-Type {content_type!r}")
        return response

    def post(
        self, objects: list[bytes], progress: Callable[[int], None] | None = None
    ) -> list[Outcome]:
        """Post serialised objects in envelopes that fit `max_content_length`; `progress` is
        told how many objects each envelope carried."""
        outcomes: list[Outcome] = []
        for envelope, count in envelopes(objects, self.max_content_length):
            status = self._call(self.collection.add_objects, envelope)
            if progress is not None:
                progress(count)
            for record in status.successes:
                outcomes.append(Outcome(record["id"], record.get("version"), None))
            for record in status.failures:
                outcomes.append(
                    Outcome(record["id"], record.get("version"), record.get("message", "failed"))
                )
        return outcomes

    def reports(self, *, reading: bool = False) -> Collection:
        """The reports collection beside this feed: where sightings of its indicators go or,
        `reading`, where its owner reads them."""
        feed = self.collection
        alias = reports_alias(feed.alias or feed.id)
        for collection in self._call(getattr, self.api_root, "collections"):
            if collection.alias == alias and (
                collection.can_read if reading else collection.can_write
            ):
                return collection
        purpose = "read (only the feed's owner may)" if reading else "write to"
        raise ConfigurationError(f"no reports collection of {feed.alias or feed.id} to {purpose}")

    def report(self, sighting: dict[str, Any]) -> Outcome:
        """Post a sighting to the feed's reports collection; what the server said of it."""
        reports = self.reports()
        envelope = json.dumps({"objects": [sighting]})
        status = self._call(reports.add_objects, envelope)
        for record in status.failures:
            return Outcome(record["id"], record.get("version"), record.get("message", "failed"))
        return Outcome(sighting["id"], sighting["modified"], None)

    def report_hit(
        self,
        indicator_id: str,
        *,
        count: int = 1,
        first_seen: datetime | None = None,
        last_seen: datetime | None = None,
    ) -> dict[str, Any]:
        """Report that an indicator's address was seen in your traffic: a sighting in the
        feed's reports collection. Returns the sighting; raises RemoteError if refused."""
        now = datetime.now(UTC)
        first = first_seen or now
        sighting = build_sighting(
            self.identity()["id"],
            indicator_id,
            count=count,
            first_seen=first,
            last_seen=last_seen or first,
            now=now,
        )
        outcome = self.report(sighting)
        if outcome.failure is not None:
            raise RemoteError(f"the server refused the sighting: {outcome.failure}")
        return sighting

    def _call(self, request: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return _retried(partial(request, *args, **kwargs), self._retries, self._sleep)

    def close(self) -> None:
        for root in self._server.api_roots:
            root.close()
        self._server.close()
        self._connection.close()

    def __enter__(self) -> "FeedClient":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _retried(request: Callable[[], T], retries: int, sleep: Callable[[float], None]) -> T:
    """`request`'s answer, asked again after what a server asks to be retried, or after a
    dropped connection, up to `retries` times with backoff; else a RemoteError."""
    delay = 1.0
    for attempt in range(retries + 1):
        try:
            return request()
        except requests.HTTPError as error:
            response = error.response
            status = None if response is None else response.status_code
            if response is None or status not in RETRIED_STATUSES or attempt == retries:
                raise RemoteError(described(error), status=status) from None
            retry_after = response.headers.get("Retry-After", "")
            wait = float(retry_after) if retry_after.isdigit() else delay
        except (requests.ConnectionError, requests.Timeout) as error:
            if attempt == retries:
                raise RemoteError(f"cannot reach the server: {unreachable(error)}") from None
            wait = delay
        except TAXIIServiceException as error:
            raise RemoteError(str(error)) from None
        sleep(min(wait, 60.0))
        delay = min(delay * 2, 30.0)
    raise AssertionError("the loop returns or raises")


def _sent(session: requests.Session, method: str, url: str, body: str | None) -> requests.Response:
    """A request of one of our extensions, in TAXII's media type; refused, an HTTPError."""
    headers = {"Accept": MEDIA_TYPE_TAXII_V21}
    if body is not None:
        headers["Content-Type"] = MEDIA_TYPE_TAXII_V21
    response = session.request(method, url, data=body, headers=headers)
    response.raise_for_status()
    return response


@contextmanager
def _roots(
    url: str, key: str, retries: int, sleep: Callable[[float], None], timeout: float
) -> Iterator[list[ApiRoot]]:
    """The API roots of the server at `url` as `key` sees them, closed after."""
    user, password = split_key(key)
    server = _discovery(url, user, password, timeout)
    roots: list[ApiRoot] = []
    try:
        roots = _api_roots(server, timeout, partial(_retried, retries=retries, sleep=sleep))
        yield roots
    finally:
        for root in roots:
            root.close()
        server.close()


def subscribed_feeds(
    url: str,
    key: str,
    *,
    retries: int = 5,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = ANSWER_TIMEOUT,
) -> list[str]:
    """The feeds of the server at `url` that `key` is granted, each by its alias (else its
    id): the collections it may read but not write, other than the reports collection of a
    feed it may write, which is a watchdog's own."""
    with _roots(url, key, retries, sleep, timeout) as roots:
        listed = [
            (collection.alias or collection.id, collection.can_read, collection.can_write)
            for root in roots
            for collection in _retried(partial(getattr, root, "collections"), retries, sleep)
        ]
    owned = {reports_alias(name) for name, _, writes in listed if writes}
    return [name for name, reads, writes in listed if reads and not writes and name not in owned]


def lookup(
    url: str,
    key: str,
    asked: Sequence[tuple[str, str | None]],
    *,
    retries: int = 5,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = ANSWER_TIMEOUT,
) -> list[dict[str, Any]]:
    """What the server at `url` answers for each (address, chain or None) `asked`, in order:
    the indicators flagging it in the feeds `key` may read, or why it is no address. The
    lookup extension of the first API root, LOOKUP_BATCH addresses a request."""
    results: list[dict[str, Any]] = []
    with _roots(url, key, retries, sleep, timeout) as roots:
        if not roots:
            raise RemoteError(f"{url} lists no API root to look addresses up in")
        session, where = roots[0]._conn.session, roots[0].url + "lookup/"
        for start in range(0, len(asked), LOOKUP_BATCH):
            batch = asked[start : start + LOOKUP_BATCH]
            items = [{"address": a} if c is None else {"address": a, "chain": c} for a, c in batch]
            body = json.dumps({"addresses": items})
            answer = _retried(partial(_sent, session, "POST", where, body), retries, sleep)
            results += answer.json()["results"]
    return results

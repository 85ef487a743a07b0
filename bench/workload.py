"""The workload, the same against every server: ingest through taxii2-client, full read with
a raw HTTP client and with taxii2-client, deep pages, get by id, an incremental poll; and the
correctness of what comes back."""

import gc
import http.client
import multiprocessing
import random
import re
import statistics
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
import requests
from taxii2client.v21 import Collection, as_pages

from bench.servers import Endpoint

TAXII = "application/taxii+json;version=2.1"


@dataclass
class Figures:
    """What one server did; None where a step did not run or did not finish."""

    server: str
    objects: int = 0
    ingest_per_s: float | None = None
    read_raw_per_s: float | None = None
    read_client_per_s: float | None = None
    # What a taxii2-client reader cannot beat: its decoding alone, of the same pages.
    client_decoding_per_s: float | None = None
    first_page_ms: float | None = None
    last_page_ms: float | None = None
    get_p50_ms: float | None = None
    get_p99_ms: float | None = None
    poll_p50_ms: float | None = None
    poll_p99_ms: float | None = None
    visible_at_once: bool | None = None
    rss_mb: float | None = None
    # Objects/s to as many concurrent readers as the most server processes, by process count.
    read_by_processes: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Http:
    """One keep-alive connection; each exchange timed from request to last body byte."""

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        parts = urllib.parse.urlsplit(endpoint.api_root)
        host = parts.hostname or "127.0.0.1"
        self.connection = http.client.HTTPConnection(host, parts.port, timeout=timeout)
        self.headers = {"Accept": TAXII, "Authorization": endpoint.authorization}
        self.reconnects = 0

    def get(self, url: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes, float]:
        path = urllib.parse.urlsplit(url).path
        target = f"{path}?{urllib.parse.urlencode(query)}" if query else path
        try:
            return self._exchange(target)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closes a keep-alive connection left idle (5 s in uvicorn), as a
            # benchmark process holding a million objects can leave it while it collects
            # garbage; like any client, open another, once, and say so.
            self.connection.close()
            self.reconnects += 1
            return self._exchange(target)

    def _exchange(self, target: str) -> tuple[int, dict[str, str], bytes, float]:
        started = time.perf_counter()
        self.connection.request("GET", target, headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        return response.status, dict(response.getheaders()), body, elapsed

    def close(self) -> None:
        self.connection.close()


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _collection(endpoint: Endpoint) -> Collection:
    """taxii2-client's view of the collection, described rather than fetched: OpenTAXII
    0.9.3 answers 500 to GET collection (its id is a UUID its JSON encoder refuses)."""
    described = {
        "id": endpoint.collection_id,
        "title": "bench",
        "can_read": True,
        "can_write": True,
        "media_types": ["application/stix+json;version=2.1"],
    }
    return Collection(
        endpoint.collection_url,
        user=endpoint.user,
        password=endpoint.password,
        collection_info=described,
    )


def ingest(
    endpoint: Endpoint,
    envelopes: list[str],
    *,
    objects: int,
    clients: int,
    timeout: float,
    figures: Figures,
) -> None:
    """Post every envelope (of `objects` in all) through taxii2-client, `clients` at a time."""
    lock = threading.Lock()

    def post(part: list[str]) -> None:
        collection = _collection(endpoint)
        for envelope in part:
            status = _add(collection, envelope, timeout, figures, lock)
            if status is None:
                continue
            if status.failure_count or status.success_count != status.total_count:
                with lock:
                    figures.problems.append(
                        f"ingest: {status.failure_count} of {status.total_count} refused, "
                        f"e.g. {(status.failures or [{}])[0]}"
                    )

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(post, [envelopes[index::clients] for index in range(clients)]))
    figures.ingest_per_s = objects / (time.perf_counter() - started)


def _add(
    collection: Collection, envelope: str, timeout: float, figures: Figures, lock: threading.Lock
) -> Any:
    """POST one envelope; a server error is noted once and the run goes on, so that what was
    stored regardless is still read back and checked."""
    try:
        return collection.add_objects(envelope, wait_for_completion=True, timeout=timeout)
    except requests.HTTPError as error:
        status = "?" if error.response is None else error.response.status_code
        problem = f"POST objects answered {status}"
        with lock:
            if problem not in figures.problems:
                figures.problems.append(problem)
        return None


@dataclass
class Read:
    objects: list[dict[str, Any]]
    seconds: list[float]
    sizes: list[int]
    date_added: list[str]
    queries: list[dict[str, str]] = field(default_factory=list)  # each page's, to ask again
    reconnects: int = 0


def read_raw(endpoint: Endpoint, *, page_size: int, timeout: float) -> Read:
    """Every object, following `next`; only the HTTP exchanges are timed."""
    connection = Http(endpoint, timeout)
    read = Read([], [], [], [])
    try:
        for query, headers, body, elapsed in _pages(connection, endpoint, page_size):
            objects = orjson.loads(body).get("objects", [])
            read.objects.extend(objects)
            read.queries.append(query)
            read.seconds.append(elapsed)
            read.sizes.append(len(objects))
            for name in ("X-TAXII-Date-Added-First", "X-TAXII-Date-Added-Last"):
                if name in headers:
                    read.date_added.append(headers[name])
        read.reconnects = connection.reconnects
        return read
    finally:
        connection.close()


def _pages(
    connection: Http, endpoint: Endpoint, page_size: int
) -> Iterator[tuple[dict[str, str], dict[str, str], bytes, float]]:
    """Each page of the collection, from the first to the last that has no `next`: the
    query that asked for it, its headers, its body and how long its exchange took."""
    query = {"limit": str(page_size)}
    while True:
        status, headers, body, elapsed = connection.get(endpoint.objects_url, query)
        if status != 200:
            raise RuntimeError(f"GET objects answered {status}: {body[:200]!r}")
        yield query, headers, body, elapsed
        more, next_token = following(body)
        if not more or not next_token:
            return
        query = {"limit": str(page_size), "next": str(next_token)}


# The start of a page that names `more` and `next` first, as this server writes its pages.
_PAGE_HEAD = re.compile(rb'\{"more":(true|false)(?:,"next":"([^"\\]+)")?[,}]')


def following(body: bytes) -> tuple[bool, str | None]:
    """A page's `more` and `next`. Read from the head of the page where they come first, so
    that a reader only following pages does not parse a megabyte of objects; otherwise (or
    when `more` is true but `next` is not in the head) from the whole page."""
    head = _PAGE_HEAD.match(body)
    if head and (head[1] == b"false" or head[2]):
        return head[1] == b"true", head[2].decode() if head[2] else None
    page = orjson.loads(body)
    return bool(page.get("more")), page.get("next")


def _read_through(endpoint: Endpoint, page_size: int, timeout: float) -> int:
    """Follow `next` from the first page to the last on a connection of its own, as a full
    read does, parsing no objects; the pages read."""
    connection = Http(endpoint, timeout)
    try:
        return sum(1 for _ in _pages(connection, endpoint, page_size))
    finally:
        connection.close()


def _read_from(
    endpoint: Endpoint, whole: tuple[int, int], page_size: int, timeout: float, at: float,
    seconds: float,
) -> tuple[int, float]:  # fmt: skip
    """One reader process: from `at`, read the whole collection, of `whole` (objects, pages)
    as a full read found it, again and again for about `seconds`; (objects read, when the
    last read ended). Objects are counted, not parsed: parsing each page took more of a small
    machine's cores than serving it, and the full read has checked what the pages hold. Each
    pass must take as many pages as the full read did."""
    objects, expected = whole
    time.sleep(max(0.0, at - time.time()))
    passes = 0
    while time.time() < at + seconds:
        pages = _read_through(endpoint, page_size, timeout)
        if pages != expected:
            raise RuntimeError(f"a read took {pages} pages; the full read {expected}")
        passes += 1
    return passes * objects, time.time()


def read_parallel(
    endpoint: Endpoint,
    *,
    objects: int,
    pages: int,
    readers: int,
    page_size: int,
    timeout: float,
    seconds: float = 5.0,
) -> float:
    """Objects per second served in all to `readers` processes that each read the whole
    collection (`objects` in `pages`, as a full read found it) over and over for about
    `seconds`, all starting at the same moment."""
    at = time.time() + 5.0  # time for the processes to start
    # Spawned, not forked: forked from the benchmark's process, which holds every object
    # sent, the readers of a 1,000,000-object run lost their keep-alive connections (the
    # server closes one left idle for 5 s).
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(readers, mp_context=spawn) as pool:
        futures = [
            pool.submit(_read_from, endpoint, (objects, pages), page_size, timeout, at, seconds)
            for _ in range(readers)
        ]
        results = [future.result() for future in futures]
    return sum(count for count, _ in results) / (max(end for _, end in results) - at)


_DECODED_PAGES = 5  # of a client read, decoded again once it is done


@dataclass
class ClientRead:
    objects: int
    seconds: float
    decoding_per_s: float  # taxii2-client's decoding alone, objects/s


def read_client(endpoint: Endpoint, *, page_size: int) -> ClientRead:
    """Every object through taxii2-client's pager, decoding included; then, with the server
    idle, its first pages decoded again as taxii2-client decodes them: the most a reader
    through it could reach, were the server's answers instant."""
    collection = _collection(endpoint)
    count = 0
    kept: list[dict[str, Any]] = []
    # The benchmark's own objects (its data set and modules, some 200,000) are no reader's:
    # frozen, the cycle collector's full passes do not scan them, which doubled a read's time.
    gc.freeze()
    try:
        started = time.perf_counter()
        for page in as_pages(collection.get_objects, per_request=page_size):
            count += len(page.get("objects", []))
            if len(kept) < _DECODED_PAGES:
                kept.append(page)
        seconds = time.perf_counter() - started
        # Each page as compact as the server writes it; the median page's rate, so that a
        # page a collector's pass or the machine stalled does not set the figure.
        rates = [
            len(page.get("objects", [])) / _decoding_seconds(orjson.dumps(page)) for page in kept
        ]
    finally:
        gc.unfreeze()
    return ClientRead(count, seconds, statistics.median(rates))


def _decoding_seconds(body: bytes) -> float:
    """How long taxii2-client takes to decode a page: it calls `Response.json()` of requests,
    which guesses the text's encoding, decodes it and parses it."""
    response = requests.Response()
    response._content = body  # as requests holds a body it has read
    started = time.perf_counter()
    response.json()
    return time.perf_counter() - started


def check_read(read: Read, sent: list[dict[str, Any]], figures: Figures) -> None:
    """Every sent object back exactly once, unchanged, and pages in date_added order."""
    served: dict[str, list[dict[str, Any]]] = {}
    for value in read.objects:
        served.setdefault(value.get("id", "?"), []).append(value)
    repeated = [object_id for object_id, values in served.items() if len(values) > 1]
    if repeated:
        figures.problems.append(f"read: {len(repeated)} ids served more than once: {repeated[0]}")
    missing = [value["id"] for value in sent if value["id"] not in served]
    if missing:
        figures.problems.append(f"read: {len(missing)} objects never served, e.g. {missing[0]}")
    changed = [value for value in sent if value["id"] in served and served[value["id"]][0] != value]
    if changed:
        example = changed[0]
        back = served[example["id"]][0]
        fields = sorted(k for k in example.keys() | back.keys() if example.get(k) != back.get(k))
        figures.problems.append(
            f"read: {len(changed)} objects served changed, e.g. {example['id']} in {fields}"
        )
    if read.date_added and read.date_added != sorted(read.date_added):
        figures.problems.append("read: pages out of date_added order")


_DEEP_PAGE_ROUNDS = 7  # of the first page and the last full one, the full read's included


def deep_pages(
    endpoint: Endpoint, read: Read, figures: Figures, *, timeout: float, budget: float
) -> None:
    """The first page's time against the last full page's: the median of each, asked for
    again in turns within `budget`, as one exchange of each moves with whatever else the
    machine is doing at that moment."""
    if sum(1 for size in read.sizes if size) < 2:
        return
    last = max(i for i, size in enumerate(read.sizes) if size == max(read.sizes))
    first_times, last_times = [read.seconds[0]], [read.seconds[last]]
    connection = Http(endpoint, timeout)
    deadline = time.monotonic() + budget
    try:
        while len(last_times) < _DEEP_PAGE_ROUNDS:
            if time.monotonic() + first_times[-1] + last_times[-1] > deadline:
                break  # another round would overrun the budget
            for index, times in ((0, first_times), (last, last_times)):
                status, _, _, elapsed = connection.get(endpoint.objects_url, read.queries[index])
                if status != 200:  # a server may not honour a `next` twice
                    figures.notes.append(f"deep page: asked again, answered {status}")
                    return
                times.append(elapsed)
    finally:
        connection.close()
        figures.first_page_ms = statistics.median(first_times) * 1000
        figures.last_page_ms = statistics.median(last_times) * 1000


def get_by_id(
    endpoint: Endpoint,
    ids: list[str],
    *,
    samples: int,
    seed: int,
    timeout: float,
    budget: float,
    figures: Figures,
) -> None:
    connection = Http(endpoint, timeout)
    chosen = random.Random(seed).choices(ids, k=samples)
    durations: list[float] = []
    deadline = time.monotonic() + budget
    try:
        for object_id in chosen:
            if time.monotonic() > deadline:
                figures.notes.append(f"get by id: {len(durations)} of {samples} in {budget:g} s")
                break
            status, _, body, elapsed = connection.get(f"{endpoint.objects_url}{object_id}/", {})
            objects = orjson.loads(body).get("objects", []) if status == 200 else []
            if [value.get("id") for value in objects] != [object_id]:
                figures.problems.append(f"get {object_id}: status {status}, {len(objects)} objects")
                break
            durations.append(elapsed)
    finally:
        connection.close()
    if durations:
        figures.get_p50_ms = statistics.median(durations) * 1000
        figures.get_p99_ms = percentile(durations, 0.99) * 1000


def incremental_poll(
    endpoint: Endpoint,
    new: list[dict[str, Any]],
    watermark: str,
    *,
    polls: int,
    timeout: float,
    budget: float,
    figures: Figures,
) -> None:
    """Post `new`, poll with added_after at once (are they all visible?), then time the same
    poll `polls` times."""
    posted = orjson.dumps({"objects": new}).decode()
    _add(_collection(endpoint), posted, timeout, figures, threading.Lock())
    wanted = {value["id"] for value in new}
    connection = Http(endpoint, timeout)
    query = {"added_after": watermark, "limit": str(max(len(new), 1000))}
    durations: list[float] = []
    deadline = time.monotonic() + budget
    try:
        for attempt in range(polls + 1):
            if time.monotonic() > deadline:
                figures.notes.append(f"poll: {len(durations)} of {polls} in {budget:g} s")
                break
            status, _, body, elapsed = connection.get(endpoint.objects_url, query)
            got = {value.get("id") for value in orjson.loads(body).get("objects", [])}
            if attempt == 0:
                figures.visible_at_once = status == 200 and wanted <= got
            elif got != wanted:
                figures.problems.append(f"poll: {len(got)} objects back, not the {len(new)} new")
                break
            else:
                durations.append(elapsed)
    except (OSError, http.client.HTTPException) as error:
        figures.problems.append(f"poll: {type(error).__name__} {error}")
    finally:
        connection.close()
    if durations:
        figures.poll_p50_ms = statistics.median(durations) * 1000
        figures.poll_p99_ms = percentile(durations, 0.99) * 1000

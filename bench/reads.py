"""Reading a whole collection, the same against every server: following `next` with a raw
HTTP client (alone, and by several readers at once), through taxii2-client's pager, and the
first page against the last; and whether every object came back once, unchanged, in order."""

import gc
import multiprocessing
import re
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from taxii2client.v21 import as_pages

from bench.ceiling import read_instantly
from bench.servers import Endpoint
from bench.workload import Figures, Http, taxii_collection


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
            for name in ("x-taxii-date-added-first", "x-taxii-date-added-last"):
                if name in headers:
                    read.date_added.append(headers[name])
        read.reconnects = connection.reconnects
        return read
    finally:
        connection.close()


def read_raw_bounded(
    endpoint: Endpoint, *, objects: int, page_size: int, timeout: float, figures: Figures
) -> Read:
    """`read_raw` of a collection of `objects`. Where an exchange times out, `figures` keeps
    the most the server can be delivering, `objects` over the time the read had taken (the
    whole read takes longer), and the timeout is raised on."""
    started = time.perf_counter()
    try:
        return read_raw(endpoint, page_size=page_size, timeout=timeout)
    except TimeoutError:
        figures.read_raw_below_per_s = objects / (time.perf_counter() - started)
        raise


def _pages(
    connection: Http, endpoint: Endpoint, page_size: int
) -> Iterator[tuple[dict[str, str], dict[str, str], memoryview, float]]:
    """Each page of the collection, from the first to the last that has no `next`: the
    query that asked for it, its headers, its body and how long its exchange took."""
    query = {"limit": str(page_size)}
    while True:
        status, headers, body, elapsed = connection.get(endpoint.objects_url, query)
        if status != 200:
            raise RuntimeError(f"GET objects answered {status}: {bytes(body[:200])!r}")
        yield query, headers, body, elapsed
        more, next_token = following(body)
        if not more or not next_token:
            return
        query = {"limit": str(page_size), "next": str(next_token)}


# The start of a page that names `more` and `next` first, as this server writes its pages.
_PAGE_HEAD = re.compile(rb'\{"more":(true|false)(?:,"next":"([^"\\]+)")?[,}]')


def following(body: bytes | memoryview) -> tuple[bool, str | None]:
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


class Parallel(NamedTuple):
    objects_per_s: float
    # The share of every core's time in use while they read, by anything: near 1, the
    # machine was full, and more processes could not have served more.
    busy: float | None


def read_parallel(
    endpoint: Endpoint,
    *,
    objects: int,
    pages: int,
    readers: int,
    page_size: int,
    timeout: float,
    seconds: float = 5.0,
) -> Parallel:
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
        time.sleep(max(0.0, at - time.time()))
        before = _cpu_ticks()
        results = [future.result() for future in futures]
        after = _cpu_ticks()
    rate = sum(count for count, _ in results) / (max(end for _, end in results) - at)
    if before is None or after is None or after[1] == before[1]:
        return Parallel(rate, None)
    return Parallel(rate, (after[0] - before[0]) / (after[1] - before[1]))


def _cpu_ticks() -> tuple[int, int] | None:
    """Every core's clock ticks since boot, as `ticks_in_use` counts them; None off Linux."""
    try:
        line = Path("/proc/stat").read_text().split("\n", 1)[0]
    except OSError:
        return None
    return ticks_in_use(line)


def ticks_in_use(line: str) -> tuple[int, int]:
    """(in use, in all) of the ticks on the first line of Linux's /proc/stat. Waiting for I/O
    counts as idle; time the hypervisor gave to another machine counts as in use, as this
    one could not use it."""
    # user, nice, system, idle, iowait, irq, softirq, steal; guest time is within user's.
    ticks = [int(value) for value in line.split()[1:9]]
    idle = ticks[3] + ticks[4]
    return sum(ticks) - idle, sum(ticks)


_REPLAYED_PAGES = 10  # of a client read, read again from a server that answers at once


@dataclass
class ClientRead:
    objects: int
    seconds: float
    ceiling_per_s: float  # objects/s through taxii2-client from a server answering at once


def read_client(endpoint: Endpoint, *, page_size: int) -> ClientRead:
    """Every object through taxii2-client's pager, decoding included; then its first pages
    again, from a server that answers each at once: the most a reader through it could
    reach (see `ceiling`)."""
    collection = taxii_collection(endpoint)
    count = 0
    kept: list[dict[str, Any]] = []
    # The benchmark's own objects (its data set and modules, some 200,000) are no reader's:
    # frozen, the cycle collector's full passes do not scan them, which doubled a read's time.
    gc.freeze()
    try:
        started = time.perf_counter()
        for page in as_pages(collection.get_objects, per_request=page_size):
            count += len(page.get("objects", []))
            if len(kept) < _REPLAYED_PAGES:
                kept.append(page)
        seconds = time.perf_counter() - started
        ceiling = read_instantly(kept, page_size)
    finally:
        gc.unfreeze()
    return ClientRead(count, seconds, ceiling)


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


def check_served(endpoint: Endpoint, read: Read, figures: Figures, *, timeout: float) -> None:
    """That a subscriber's read was recorded as served through its last object, as the feed's
    owner sees it (this project's acknowledgement state): the read was a subscriber's, whose
    every page writes down how far it was served."""
    if not endpoint.readers or not read.date_added:
        return
    name = endpoint.readers[0].organisation
    connection = Http(endpoint, timeout)
    try:
        status, _, body, _ = connection.get(f"{endpoint.collection_url}acknowledgements/", {})
    finally:
        connection.close()
    states = orjson.loads(body).get("subscribers", []) if status == 200 else []
    served = [state.get("served_through") for state in states if state.get("organisation") == name]
    if served != [read.date_added[-1]]:
        figures.problems.append(
            f"read: the subscriber is recorded as served through {served or 'nothing'} "
            f"(status {status}), not {read.date_added[-1]}"
        )


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

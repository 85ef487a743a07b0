"""The workload, the same against every server: ingest through taxii2-client, get by id and
an incremental poll, each checked for what comes back; what each server did, as figures; and
the timed HTTP connection the reads (in `reads`) use too."""

import http.client
import random
import statistics
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
import requests
from taxii2client.v21 import Collection

from bench.servers import Endpoint

TAXII = "application/taxii+json;version=2.1"


@dataclass
class Figures:
    """What one server did; None where a step did not run or did not finish."""

    server: str
    objects: int = 0
    # Who reads: a subscriber, each read its first, where the server has them; else the
    # publisher.
    reader: str = ""
    ingest_per_s: float | None = None
    read_raw_per_s: float | None = None
    # Where the raw read timed out: the most the server can be delivering (see read_raw_bounded).
    read_raw_below_per_s: float | None = None
    read_client_per_s: float | None = None
    # What a taxii2-client reader cannot beat: its rate from a server that answers at once.
    client_ceiling_per_s: float | None = None
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
    # And the share of the machine's CPU in use meanwhile, by the same process counts.
    busy_by_processes: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Http:
    """One keep-alive connection; each exchange timed from request to last body byte. A body
    is read into one buffer the connection keeps, not a new megabyte per page: allocating it
    afresh cost a reader half as much CPU again, on cores the servers share."""

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        parts = urllib.parse.urlsplit(endpoint.api_root)
        host = parts.hostname or "127.0.0.1"
        self.connection = http.client.HTTPConnection(host, parts.port, timeout=timeout)
        self.headers = {"Accept": TAXII, "Authorization": endpoint.authorization}
        self.reconnects = 0
        self.buffer = bytearray(1 << 20)

    def get(self, url: str, query: dict[str, str]) -> tuple[int, dict[str, str], memoryview, float]:
        """(status, headers by lower-case name, body, seconds); the body is a view of the
        connection's buffer, good until its next exchange."""
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

    def _exchange(self, target: str) -> tuple[int, dict[str, str], memoryview, float]:
        started = time.perf_counter()
        self.connection.request("GET", target, headers=self.headers)
        response = self.connection.getresponse()
        size = self._receive(response)
        elapsed = time.perf_counter() - started
        # Header names in lower case, as servers may send them in any (uvicorn's are lower).
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, memoryview(self.buffer)[:size], elapsed

    def _receive(self, response: http.client.HTTPResponse) -> int:
        """Read the whole body into the buffer, a larger one where it does not fit (a new one:
        the caller may still hold a view of the last body); the body's size."""
        if response.length is not None and response.length > len(self.buffer):
            self.buffer = bytearray(response.length)
        size = 0
        while not response.isclosed():  # as it is once the whole body is read
            if size == len(self.buffer):  # a chunked body, longer than any before
                self.buffer = self.buffer + bytes(size)
            size += response.readinto(memoryview(self.buffer)[size:])
        if response.length:  # closed short of its Content-Length
            raise http.client.IncompleteRead(bytes(self.buffer[:size]), response.length)
        return size

    def close(self) -> None:
        self.connection.close()


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def taxii_collection(endpoint: Endpoint) -> Collection:
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
        collection = taxii_collection(endpoint)
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
    reader: Endpoint,
    batches: list[list[dict[str, Any]]],
    watermark: str,
    *,
    timeout: float,
    budget: float,
    figures: Figures,
) -> None:
    """For each batch, post it as `endpoint`'s publisher, then poll at once as `reader`, with
    added_after the last `date_added` it was served, as a poller continues: timed, each poll
    must bring back its batch, whole and alone (and so moves what the reader was served)."""
    collection = taxii_collection(endpoint)
    connection = Http(reader, timeout)
    durations: list[float] = []
    missed = False
    deadline = time.monotonic() + budget
    try:
        for batch in batches:
            if time.monotonic() > deadline:
                figures.notes.append(f"poll: {len(durations)} of {len(batches)} in {budget:g} s")
                break
            posted = orjson.dumps({"objects": batch}).decode()
            _add(collection, posted, timeout, figures, threading.Lock())
            query = {"added_after": watermark, "limit": str(max(len(batch), 1000))}
            status, headers, body, elapsed = connection.get(endpoint.objects_url, query)
            got = [value.get("id") for value in orjson.loads(body).get("objects", [])]
            wanted = [value["id"] for value in batch]
            if status != 200 or sorted(got) != sorted(wanted):
                missed = True
                figures.problems.append(
                    f"poll: status {status}, {len(got)} objects back, not the {len(batch)} new"
                )
                break
            durations.append(elapsed)
            watermark = headers.get("x-taxii-date-added-last", watermark)
    except (OSError, http.client.HTTPException) as error:
        figures.problems.append(f"poll: {type(error).__name__} {error}")
    finally:
        connection.close()
    figures.visible_at_once = False if missed else (True if durations else None)
    if durations:
        figures.poll_p50_ms = statistics.median(durations) * 1000
        figures.poll_p99_ms = percentile(durations, 0.99) * 1000

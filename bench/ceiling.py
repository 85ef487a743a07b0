"""The most a reader through taxii2-client can reach: the pages it read from a server, read
again from one that answers each at once, from memory, in a process of its own; what is left
is the client's own work (its requests, its reading and its decoding of each page)."""

import asyncio
import multiprocessing
import statistics
import time
import urllib.parse
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import orjson
from taxii2client.v21 import as_pages

from bench.servers import Endpoint
from bench.workload import TAXII, taxii_collection

_READS = 5  # of the replayed pages, the median's rate taken


def _responses(pages: Sequence[dict[str, Any]]) -> list[bytes]:
    """Each page as a whole HTTP response, chained by `next` to the one after it."""
    responses = []
    for index, page in enumerate(pages):
        last = index == len(pages) - 1
        envelope = {key: value for key, value in page.items() if key not in ("more", "next")}
        following = {"more": False} if last else {"more": True, "next": str(index + 1)}
        body = orjson.dumps(following | envelope)
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {TAXII}\r\nContent-Length: {len(body)}\r\n\r\n"
        responses.append(head.encode() + body)
    return responses


async def _answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, responses: list[bytes]
) -> None:
    try:
        while True:
            request = await reader.readuntil(b"\r\n\r\n")  # a GET has no body
            target = request.split(b" ", 2)[1].decode()
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
            writer.write(responses[int(query.get("next", ["0"])[0])])
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def _serve(responses: list[bytes], ready: Connection) -> None:
    async def run() -> None:
        server = await asyncio.start_server(lambda r, w: _answer(r, w, responses), "127.0.0.1", 0)
        ready.send(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(run())


def read_instantly(pages: Sequence[dict[str, Any]], page_size: int) -> float:
    """Objects/s through taxii2-client's pager from a server that answers `pages` at once:
    the median of a few reads of them all."""
    context = multiprocessing.get_context("spawn")
    ready, told = context.Pipe()
    server = context.Process(target=_serve, args=(_responses(pages), told), daemon=True)
    server.start()
    try:
        if not ready.poll(60):
            raise RuntimeError("the instant server did not start")
        port = ready.recv()
        endpoint = Endpoint("instant", f"http://127.0.0.1:{port}/api/", "c", "u", "p", 0)
        collection = taxii_collection(endpoint)
        objects = sum(len(page.get("objects", [])) for page in pages)
        rates = []
        for _ in range(_READS):
            started = time.perf_counter()
            read = sum(
                len(page.get("objects", []))
                for page in as_pages(collection.get_objects, per_request=page_size)
            )
            rates.append(read / (time.perf_counter() - started))
            if read != objects:
                raise RuntimeError(f"the instant server served {read} objects, not {objects}")
        return statistics.median(rates)
    finally:
        server.terminate()
        server.join()

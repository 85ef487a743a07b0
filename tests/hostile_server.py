"""A TAXII server that answers what a test makes it answer: discovery, an API root and one
collection as any server would, then the given bodies for that collection's objects, one per
request (the last again and again), whatever they hold. After `limit` pages it answers 500,
so that a poller which never stops fails its test instead of hanging it. A server that
`stalls` answers requests for the objects only when it is stopped, or after 10 s: a client
with no deadline then fails its test rather than hang it. A lookup is answered `lookup`."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
MEDIA_TYPE = "application/taxii+json;version=2.1"


class HostileServer:
    def __init__(
        self,
        pages: list[bytes],
        *,
        limit: int = 50,
        date_added_last: str | None = None,
        stalls: bool = False,
        lookup: bytes | None = None,
    ) -> None:
        self.pages = pages
        self.lookup = lookup
        self.limit = limit
        self.stalls = stalls
        self.stopped = threading.Event()
        self.date_added_last = date_added_last  # the header sent with every page
        self.served = 0
        handler = type("Handler", (_Handler,), {"owner": self})
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"

    def __enter__(self) -> "HostileServer":
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stopped.set()
        self._http.shutdown()
        self._http.server_close()

    def answer(self, path: str) -> tuple[int, bytes]:
        documents: dict[str, Any] = {
            "/taxii2/": {"title": "hostile", "api_roots": [f"{self.url}/api/"]},
            "/api/": {"title": "api", "versions": [MEDIA_TYPE], "max_content_length": 10**7},
            "/api/collections/": {
                "collections": [
                    {"id": COLLECTION, "title": "Feed", "can_read": True, "can_write": False,
                     "media_types": ["application/stix+json;version=2.1"]}
                ]
            },
        }  # fmt: skip
        if path in documents:
            return 200, json.dumps(documents[path]).encode()
        if path == f"/api/collections/{COLLECTION}/objects/":
            if self.stalls:
                self.stopped.wait(10)
            self.served += 1
            if self.served > self.limit:
                return 500, b'{"title": "the poller did not stop", "http_status": "500"}'
            return 200, self.pages[min(self.served, len(self.pages)) - 1]
        return 404, b'{"title": "not found", "http_status": "404"}'


class _Handler(BaseHTTPRequestHandler):
    owner: HostileServer

    def do_GET(self) -> None:
        self._send(*self.owner.answer(self.path.split("?", 1)[0]))

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/api/lookup/" and self.owner.lookup is not None:
            self._send(200, self.owner.lookup)
        else:
            self._send(404, b'{"title": "not found", "http_status": "404"}')

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", MEDIA_TYPE)
        self.send_header("Content-Length", str(len(body)))
        if self.owner.date_added_last is not None:
            self.send_header("X-TAXII-Date-Added-Last", self.owner.date_added_last)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a test reads what matters from the server's counts."""

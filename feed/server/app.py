"""The application factory: lifespan (engine, cursor key), routers, the one error handler
that turns every failure into a TAXII error body, and the access log."""

import gc
import json
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from feed.config import Settings
from feed.database import create_engine_for
from feed.errors import (
    BadRequest,
    FeedError,
    MethodNotAllowed,
    NotFound,
    Unavailable,
    describe_problems,
)
from feed.sandbox import HEADER, HEADER_VALUE, Sandbox
from feed.server import acks, collections, discovery, lookup, objects, status
from feed.server import sandbox as sandbox_routes
from feed.server.deps import require_nameable_path, require_taxii_accept
from feed.server.responses import TaxiiResponse, taxii_json
from feed.server.warmup import warm_up
from feed.store import Store

access_log = logging.getLogger("feed.access")
error_log = logging.getLogger("feed.server")


class AccessLog:
    """Logs organisation, method, endpoint, status and duration of every request. Only the
    path is logged, never the query string or headers, so no credential reaches the log; and
    the path as sent, percent-encoded, so that an encoded line break cannot forge a line. The
    organisation's name is quoted where it holds a space, and escaped, as logfmt values are."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def capture(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            organisation = scope.get("state", {}).get("organisation", "-")
            access_log.info(
                "org=%s %s %s status=%d duration_ms=%.1f",
                _logfmt_value(organisation),
                scope["method"],
                _path_as_sent(scope),
                status_code,
                (time.perf_counter() - started) * 1000,
            )


def _logfmt_value(value: str) -> str:
    """`value` bare where it can be, else quoted and escaped: a name with spaces reads as one
    field, and one with quotes or line breaks forges none."""
    if value and value.isascii() and value.isprintable() and not set(value) & set(' "=\\'):
        return value
    return json.dumps(value)


def _path_as_sent(scope: Scope) -> str:
    raw: bytes | None = scope.get("raw_path")  # printable ASCII: the HTTP parser refuses more
    return scope["path"].encode("unicode_escape").decode() if raw is None else raw.decode()


def _error_response(error: FeedError) -> TaxiiResponse:
    response = taxii_json(error.body(), status_code=error.http_status)
    response.headers.update(error.headers())
    return response


def _install_error_handlers(app: FastAPI) -> None:
    async def feed_error(_request: Request, error: Exception) -> TaxiiResponse:
        assert isinstance(error, FeedError)
        return _error_response(error)

    async def http_error(_request: Request, error: Exception) -> TaxiiResponse:
        assert isinstance(error, HTTPException)
        mapped: FeedError
        if error.status_code == 404:  # a path missing its slash is redirected, never here
            mapped = NotFound("there is no such endpoint")
        elif error.status_code == 405:
            mapped = MethodNotAllowed("this endpoint does not support that method")
        else:
            mapped = FeedError(str(error.detail))
            mapped.http_status = error.status_code
        return _error_response(mapped)

    async def validation_error(_request: Request, error: Exception) -> TaxiiResponse:
        assert isinstance(error, RequestValidationError)
        return _error_response(BadRequest(describe_problems(error.errors(), "request")))

    async def database_unavailable(request: Request, error: Exception) -> TaxiiResponse:
        if _refused_by_sqlite(error):  # it would fail again: "retry shortly" would be false
            return await unexpected_error(request, error)
        error_log.warning("database unavailable: %s", _driver_said(error))
        return _error_response(Unavailable("the database is unavailable; retry shortly"))

    async def unexpected_error(_request: Request, error: Exception) -> TaxiiResponse:
        error_log.exception("unhandled error", exc_info=error)
        return _error_response(FeedError("the server failed to handle this request"))

    async def database_error(request: Request, error: Exception) -> TaxiiResponse:
        # An outage only if it cost the connection. An integrity, data or programming error
        # would fail the same request again: "retry shortly" would be false.
        assert isinstance(error, DBAPIError)
        if error.connection_invalidated:
            return await database_unavailable(request, error)
        return await unexpected_error(request, error)

    app.add_exception_handler(FeedError, feed_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    for outage in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(outage, database_unavailable)
    app.add_exception_handler(DBAPIError, database_error)
    app.add_exception_handler(Exception, unexpected_error)


def _refused_by_sqlite(error: Exception) -> bool:
    """Whether SQLite refused the statement itself (a syntax error, a missing table, an
    expression nested too deep), which its driver reports as an OperationalError, as it does
    a locked or unreadable database."""
    code = getattr(getattr(error, "orig", None), "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_ERROR


def _driver_said(error: Exception) -> str:
    """The database driver's own words for a failure ("database is locked", "connection
    refused"), first line only: SQLAlchemy's text of it adds the statement and its bound
    parameters, which may hold what a caller sent (a key's secret hash, say)."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"


class SandboxHeader:
    """Marks every response of a sandbox, errors included, as such."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((HEADER.lower().encode(), HEADER_VALUE.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, marked if scope["type"] == "http" else send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # An envelope of 1,000 objects allocates some 50,000 dicts and lists: at the default
        # threshold (700) the cycle collector would run every few objects, a third of parsing.
        gc.set_threshold(100_000, 50, 100)
        engine = create_engine_for(settings)
        store = Store(engine)
        app.state.settings = settings
        app.state.store = store
        app.state.cursor_key = store.cursor_key()
        warm_up(store)
        stop = threading.Event()
        if settings.sandbox:
            app.state.sandbox = Sandbox(
                store,
                seed=settings.sandbox_seed,
                indicators=settings.sandbox_indicators,
                rhythm=settings.sandbox_rhythm,
            )
            app.state.sandbox.reset()
            threading.Thread(target=app.state.sandbox.run, args=(stop,), daemon=True).start()
        try:
            yield
        finally:
            stop.set()
            store.dispose()

    app = FastAPI(
        title=settings.title,
        summary="TAXII 2.1 server for flagged cryptocurrency addresses",
        lifespan=lifespan,
        default_response_class=TaxiiResponse,
    )
    taxii = [Depends(require_taxii_accept), Depends(require_nameable_path)]
    # A request is matched against the routers in this order, and nearly every request is
    # for objects: they come first.
    for module in (objects, discovery, collections, status):
        app.include_router(module.router, dependencies=taxii, tags=["TAXII 2.1"])
    for module in (acks, lookup):
        app.include_router(module.router, dependencies=taxii, tags=["Extensions"])
    if settings.sandbox:
        app.include_router(sandbox_routes.router, dependencies=taxii, tags=["Sandbox"])
    _install_error_handlers(app)
    app.add_middleware(AccessLog)
    if settings.sandbox:
        app.add_middleware(SandboxHeader)

    @app.get(
        "/healthz",
        response_class=JSONResponse,
        tags=["operations"],
        summary="Liveness and database reachability",
    )
    def healthz(request: Request) -> dict[str, Any]:
        store: Store = request.app.state.store
        with store.reading() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok"}

    return app

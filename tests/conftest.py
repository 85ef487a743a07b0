"""Fixtures shared by the suite: a fresh database on SQLite and on PostgreSQL for every test
that touches storage, and a populated world of organisations for the server tests."""

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from fastapi.testclient import TestClient

from feed import accounts
from feed.config import Settings
from feed.database import create_engine_for, migrate
from feed.server.app import create_app
from feed.stix import definitions
from feed.store import Store
from feed.tables import Role
from feed.taxii import TAXII_MEDIA_TYPE
from tests.serving import serving

POSTGRES_URL = os.environ.get("FEED_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")


def _postgres_database() -> Iterator[str]:
    name = f"feed_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is unreachable at {POSTGRES_URL} under CI: {error}")
        pytest.skip(f"PostgreSQL is unreachable at {POSTGRES_URL}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{POSTGRES_URL}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db')}/feed.db"
    else:
        yield from _postgres_database()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, page_limit_max=50, max_content_length=200_000)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    engine = create_engine_for(settings)
    migrate(engine)
    store = Store(engine)
    yield store
    store.dispose()


@dataclass(frozen=True)
class Member:
    """An organisation in the test world, with the headers of one of its keys."""

    name: str
    id: str
    identity: str
    key_id: str
    bearer: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Accept": TAXII_MEDIA_TYPE, "Authorization": f"Bearer {self.bearer}"}


@dataclass(frozen=True)
class World:
    watchdog: Member
    other_watchdog: Member
    exchange: Member
    outsider: Member
    admin: Member
    feed: str
    reports: str
    other_feed: str

    @property
    def feed_seed(self) -> list[str]:
        """Ids of what a new feed holds: the shared definitions, then its owner's identity."""
        return [value["id"] for value in definitions()] + [self.watchdog.identity]


def _member(store: Store, name: str, role: Role) -> Member:
    with store.writing() as session:
        organisation = accounts.create_organisation(session, name, role)
        issued = accounts.create_key(session, organisation)
        return Member(name, organisation.id, organisation.identity_id, issued.key_id, issued.bearer)


@pytest.fixture
def world(store: Store) -> World:
    watchdog = _member(store, "Hotline", Role.WATCHDOG)
    other_watchdog = _member(store, "Sanctions Office", Role.WATCHDOG)
    exchange = _member(store, "Exchange A", Role.EXCHANGE)
    outsider = _member(store, "Exchange B", Role.EXCHANGE)
    admin = _member(store, "Operator", Role.ADMIN)
    with store.writing() as session:
        owner = accounts.find_organisation(session, watchdog.id)
        feed, reports = accounts.create_feed(session, owner, "Hotline alerts", alias="hotline")
        accounts.grant_feed(session, feed, accounts.find_organisation(session, exchange.id))
        other = accounts.find_organisation(session, other_watchdog.id)
        other_feed, _ = accounts.create_feed(session, other, "Sanctions")
        return World(
            watchdog, other_watchdog, exchange, outsider, admin, feed.id, reports.id, other_feed.id
        )


@pytest.fixture
def second_exchange(store: Store, world: World) -> Member:
    """The world's ungranted exchange, granted the feed for this test."""
    with store.writing() as session:
        feed = accounts.find_feed(session, world.feed)
        accounts.grant_feed(session, feed, accounts.find_organisation(session, world.outsider.id))
    return world.outsider


@pytest.fixture
def client(settings: Settings, world: World) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def base_url(settings: Settings, world: World) -> Iterator[str]:
    """A real `feed serve` process over the test world's database."""
    with serving(settings) as url:
        yield url

"""The client's side of a feed's server going wrong: every request has a deadline, and what
kept an answer away is said in a few words."""

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from feed.client import FeedClient, subscribed_feeds
from feed.errors import RemoteError
from tests.hostile_server import COLLECTION, HostileServer


@pytest.fixture
def mute_url() -> Iterator[str]:
    """A server that takes connections (the kernel does, into its backlog) and answers none;
    after 10 s it resets them, so that a client with no deadline fails its test, not hangs."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as listener:
        reset = threading.Timer(10, listener.close)
        reset.start()
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
        reset.cancel()


def _refused_url() -> str:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        return f"http://127.0.0.1:{listener.getsockname()[1]}"  # closed on return


def test_a_server_that_never_answers_is_given_up_on(mute_url: str) -> None:
    for ask in (
        lambda: FeedClient(mute_url, "k.s", "f", retries=1, sleep=lambda _: None, timeout=0.3),
        lambda: subscribed_feeds(mute_url, "k.s", retries=1, sleep=lambda _: None, timeout=0.3),
    ):
        started = time.monotonic()
        with pytest.raises(RemoteError) as raised:
            ask()
        assert time.monotonic() - started < 5  # two attempts of 0.3 s, not for ever
        assert raised.value.description == (
            "cannot reach the server: no answer in time (connect or answer timeout)"
        )


def test_a_collection_that_never_answers_is_given_up_on() -> None:
    """The deadline holds past discovery: taxii2-client gives each API root a connection of
    its own, and the client its own for pages."""
    with (
        HostileServer([], stalls=True) as server,
        FeedClient(server.url, "k.s", COLLECTION, retries=0, timeout=0.3) as client,
    ):
        with pytest.raises(RemoteError, match="no answer in time"):
            client.page()
        with pytest.raises(RemoteError, match="no answer in time"):
            list(client.objects())


def test_a_refused_connection_is_said_in_a_few_words() -> None:
    with pytest.raises(RemoteError) as raised:
        FeedClient(_refused_url(), "k.s", "f", retries=0)
    assert raised.value.description == "cannot reach the server: Connection refused"


def test_a_url_with_a_path_is_said_to_need_none() -> None:
    with HostileServer([]) as server, pytest.raises(RemoteError) as raised:
        FeedClient(f"{server.url}/api/", "k.s", COLLECTION, retries=0)
    assert raised.value.description.endswith(
        "(TAXII discovery is looked for at /taxii2/ beneath the URL: give the server's address, "
        "without a path)"
    )
    assert raised.value.description.startswith(f"404 from {server.url}/api/taxii2/")

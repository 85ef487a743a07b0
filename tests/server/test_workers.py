"""Worker processes behind one port: `feed serve --workers 2` hands each connection to the
worker with the fewest in use, replaces a worker that dies, and its workers leave with it."""

import contextlib
import http.client
import os
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from feed.config import Settings
from tests.serving import server_process

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _workers(pid: int) -> list[int]:
    """The worker processes of the server process `pid` (not multiprocessing's helpers)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in _proc(task / "children").split():
            if b"spawn_main" in _proc(Path(f"/proc/{int(child)}/cmdline")):
                found.append(int(child))
    return found


def _proc(path: Path) -> bytes:
    """A /proc file's content, empty once its process has gone: a process reaped after the
    file was opened fails the read itself, with ESRCH."""
    try:
        return path.read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return b""


def _alive(pid: int) -> bool:
    stat = _proc(Path(f"/proc/{pid}/stat"))
    return bool(stat) and stat.rsplit(b")", 1)[1].split()[0] != b"Z"


def _connected(base: str) -> http.client.HTTPConnection:
    """A keep-alive connection that has been answered, so a worker holds its other end."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        _ask(connection)
    except OSError:
        connection.close()
        raise
    return connection


def _ask(connection: http.client.HTTPConnection) -> None:
    connection.request("GET", "/healthz")
    response = connection.getresponse()
    response.read()
    assert response.status == 200


def _owner(pids: list[int], connection: http.client.HTTPConnection) -> int:
    """Which of these processes holds the server's end of the connection."""
    assert connection.sock is not None
    client_port = connection.sock.getsockname()[1]
    server_port = connection.sock.getpeername()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(end.split(":")[1], 16) for end in fields[1:3])
        if (local, remote) == (server_port, client_port):
            inode = fields[9]
    assert inode is not None
    for pid in pids:
        for descriptor in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(descriptor) == f"socket:[{inode}]":
                    return pid
            except FileNotFoundError:
                continue
    raise AssertionError(f"no process holds socket {inode}")


def _wait_until(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_each_connection_goes_to_the_worker_with_the_fewest_in_use(settings: Settings) -> None:
    with server_process(settings, workers=2) as (base, process), contextlib.ExitStack() as opened:
        pids = _workers(process.pid)
        first = [opened.enter_context(contextlib.closing(_connected(base))) for _ in range(4)]
        owners = [_owner(pids, connection) for connection in first]
        assert sorted(Counter(owners).values()) == [2, 2]
        emptied = owners[0]
        kept = []
        for connection, owner in zip(first, owners, strict=True):
            if owner == emptied:
                connection.close()
            else:
                kept.append(connection)
        # The kept ones idle for longer than "in use" lasts, and reported so.
        time.sleep(1.5)
        for connection in kept:  # in use again: the supervisor must know it at once
            _ask(connection)
        second = [opened.enter_context(contextlib.closing(_connected(base))) for _ in range(2)]
        assert [_owner(pids, connection) for connection in second] == [emptied, emptied]


def test_idle_keep_alive_connections_do_not_count_as_load(settings: Settings) -> None:
    # Two clients that start posting together go to two workers, though one worker holds
    # idle connections (a health check's, a poller's between polls) and the other none.
    with server_process(settings, workers=2) as (base, process), contextlib.ExitStack() as opened:
        pids = _workers(process.pid)
        first = [opened.enter_context(contextlib.closing(_connected(base))) for _ in range(4)]
        owners = [_owner(pids, connection) for connection in first]
        idle_holder = owners[1]
        for connection, owner in zip(first, owners, strict=True):
            if owner != idle_holder:
                connection.close()
        time.sleep(1.5)  # the rest now idle for longer than "in use" lasts
        posting = [opened.enter_context(contextlib.closing(_connected(base))) for _ in range(2)]
        assert sorted(_owner(pids, connection) for connection in posting) == sorted(pids)


def _replaced(base: str, server: int, gone: int) -> bool:
    """Whether the server's workers, none of them `gone`, now take two of four connections
    each: false while the replacement is starting, or a connection went to `gone` as it died."""
    with contextlib.ExitStack() as stack:
        try:
            answered = [stack.enter_context(contextlib.closing(_connected(base))) for _ in range(4)]
        except ConnectionError:
            return False
        pids = _workers(server)
        owners = Counter(_owner(pids, connection) for connection in answered)
    return gone not in owners and sorted(owners.values()) == [2, 2]


def test_a_worker_that_dies_is_replaced(settings: Settings) -> None:
    with server_process(settings, workers=2) as (base, process):
        with contextlib.closing(_connected(base)) as connection:
            victim = _owner(_workers(process.pid), connection)
        os.kill(victim, signal.SIGKILL)
        _wait_until(lambda: _replaced(base, process.pid, victim))


def test_a_worker_that_takes_no_connection_is_replaced(settings: Settings) -> None:
    impatient = settings.model_copy(update={"worker_stall_seconds": 1.0})
    with server_process(impatient, workers=2) as (base, process):
        with contextlib.closing(_connected(base)) as connection:
            stuck = _owner(_workers(process.pid), connection)
        time.sleep(1.0)  # for the worker to see it closed and tell the supervisor
        os.kill(stuck, signal.SIGSTOP)  # alive, but its event loop takes nothing
        try:
            host, port = base.removeprefix("http://").split(":")
            with contextlib.ExitStack() as stack:
                # Neither worker has one open: of two connections, each is handed one.
                for _ in range(2):
                    stack.enter_context(socket.create_connection((host, int(port))))
                _wait_until(lambda: not _alive(stuck))
            _wait_until(lambda: _replaced(base, process.pid, stuck))
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(stuck, signal.SIGCONT)


def test_a_worker_stuck_while_idle_is_replaced_before_any_connection_reaches_it(
    settings: Settings,
) -> None:
    impatient = settings.model_copy(update={"worker_stall_seconds": 1.0})
    with server_process(impatient, workers=2) as (base, process):
        with contextlib.closing(_connected(base)) as connection:
            stuck = _owner(_workers(process.pid), connection)
        os.kill(stuck, signal.SIGSTOP)
        try:
            _wait_until(lambda: not _alive(stuck))
            _wait_until(lambda: _replaced(base, process.pid, stuck))
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(stuck, signal.SIGCONT)


def test_a_busy_worker_is_not_taken_for_stuck(settings: Settings) -> None:
    impatient = settings.model_copy(update={"worker_stall_seconds": 1.0})
    with server_process(impatient, workers=2) as (base, process):
        workers = sorted(_workers(process.pid))
        deadline = time.monotonic() + 4  # four stall times, with requests and quiet spells
        while time.monotonic() < deadline:
            with contextlib.closing(_connected(base)):
                pass
            time.sleep(0.3)
        assert sorted(_workers(process.pid)) == workers


def test_workers_stop_with_the_server(settings: Settings) -> None:
    with server_process(settings, workers=2) as (_, process):
        workers = _workers(process.pid)
        process.terminate()
        assert process.wait(timeout=30) == 0
    assert not [pid for pid in workers if _alive(pid)]


def test_workers_leave_when_the_server_is_killed(settings: Settings) -> None:
    with server_process(settings, workers=2) as (_, process):
        workers = _workers(process.pid)
        process.kill()
        process.wait()
        _wait_until(lambda: not any(_alive(pid) for pid in workers))

"""Several worker processes behind one port, with the connections spread evenly among them.

Workers that accept from one shared socket take whatever the kernel wakes them for, and one
often takes every connection of a burst: two publishers posting at once then share one
process, and its interpreter lock, while the other process waits idle. So, as Node's cluster
module does, the supervisor accepts each connection itself and hands it over a Unix socket
(SCM_RIGHTS) to the worker with the fewest connections in use (a request in the last second),
then with the fewest open, then to the one handed a connection least lately. Counting every
open connection alike, two posting clients went to one worker whenever the other held an
idle keep-alive connection or two (a health check's, a poller's between polls). Each worker
reports its counts whenever they change (an idle connection asked something again, at once;
one left idle, within a tick), and when asked, which a quiet worker is. A worker
that dies is replaced, and so is one whose event loop leaves the question unanswered for too
long (it would hold every connection sent its way); one that fails to start stops them all.
"""

import asyncio
import contextlib
import logging
import multiprocessing
import selectors
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from feed.server.connections import HeaderDeadline

logger = logging.getLogger("uvicorn.error")

# What a worker reports: the connections it has open, how many it has received in all, and
# how many of those open are in use (see HeaderDeadline.in_use).
_REPORT = struct.Struct("=QQQ")
_SPAWN = multiprocessing.get_context("spawn")
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_STOP_SECONDS = 30.0  # for a worker to finish its requests once told to stop
_HAND_SECONDS = 5.0  # for the least busy worker to make room for a connection
_CHECK_SECONDS = 1.0  # between looks for a stalled worker
_ASK = b"?"  # from the supervisor, with no connection: report now


def serve(config: uvicorn.Config, *, stall_seconds: float) -> None:
    """Serve the configured port with `config.workers` worker processes until SIGINT or
    SIGTERM, replacing any worker that leaves a question unanswered for `stall_seconds`;
    exits with uvicorn's startup failure status if a worker fails to start."""
    listener = config.bind_socket()
    listener.listen(config.backlog)
    listener.setblocking(False)
    supervisor = _Supervisor(config, listener, stall_seconds)
    supervisor.run()
    if supervisor.failed:
        sys.exit(STARTUP_FAILURE)


class _Worker:
    """A worker process as the supervisor sees it: its channel, whether it has started, and
    how many connections it has open, as last reported, plus those handed to it since."""

    def __init__(self, config: uvicorn.Config) -> None:
        # Sequenced packets keep each handed connection and each report a message of its own.
        self.channel, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.process = _SPAWN.Process(target=_work, args=(config, theirs))
        self.process.start()
        theirs.close()
        self.channel.setblocking(False)
        self.handed = 0
        self.handed_at = 0.0  # monotonic time of the latest connection handed
        self.ready = False  # it reports once it has started, and not before
        self._reported = (0, 0, 0)
        self._heard_at = time.monotonic()
        self._asked_at: float | None = None  # while a question is unanswered

    @property
    def open(self) -> int:
        connections, received, _ = self._reported
        return connections + self.handed - received

    @property
    def in_use(self) -> int:
        """Connections in use, counting those handed but not yet taken."""
        _, received, in_use = self._reported
        return in_use + self.handed - received

    def hand(self, connection: socket.socket) -> None:
        """Pass the connection on; raises OSError if the worker cannot take it now."""
        socket.send_fds(self.channel, [b"c"], [connection.fileno()])
        self.handed += 1
        self.handed_at = time.monotonic()

    def ask(self) -> None:
        """Ask for a report, unless a question is already unanswered. A channel too full to
        take the question counts as asked: the worker has not read what it was sent."""
        if self._asked_at is None:
            with contextlib.suppress(OSError):  # full, or its process has ended (seen anyway)
                self.channel.send(_ASK)
            self._asked_at = time.monotonic()

    def quiet_for(self) -> float:
        return time.monotonic() - self._heard_at

    def stalled(self, seconds: float) -> bool:
        """Whether a question has been unanswered for more than `seconds`."""
        return self._asked_at is not None and time.monotonic() - self._asked_at > seconds

    def read_reports(self) -> bool:
        """Take in what the worker reported; False once its channel has closed."""
        while True:
            try:
                report = self.channel.recv(_REPORT.size)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not report:
                return False
            self._reported = _REPORT.unpack(report)
            self.ready = True
            self._heard_at, self._asked_at = time.monotonic(), None


class _Supervisor:
    """Starts the workers, hands them the connections and replaces any that dies or stalls."""

    def __init__(
        self, config: uvicorn.Config, listener: socket.socket, stall_seconds: float
    ) -> None:
        self.config = config
        self.listener = listener
        self.stall_seconds = stall_seconds
        self.selector = selectors.DefaultSelector()
        self.workers: list[_Worker] = []
        self.listening = False  # only while a worker is ready: others wait in the backlog
        self.started = False  # every worker of the first set has started
        self.stopping = False
        self.failed = False

    def run(self) -> None:
        woken, waker = socket.socketpair()
        for end in (woken, waker):
            end.setblocking(False)
        previous = signal.set_wakeup_fd(waker.fileno())
        handlers = {signum: signal.signal(signum, self._stop) for signum in _STOP_SIGNALS}
        logger.info("Handing connections to %d worker processes", self.config.workers)
        try:
            self.selector.register(woken, selectors.EVENT_READ, lambda: woken.recv(512))
            for _ in range(self.config.workers):
                self._start()
            while not self.stopping:
                for key, _ in self.selector.select(_CHECK_SECONDS):
                    key.data()
                self._watch()
        finally:
            self.listener.close()
            self._stop_workers()
            signal.set_wakeup_fd(previous)
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
            woken.close()
            waker.close()
            self.selector.close()

    def _stop(self, _signum: int, _frame: FrameType | None) -> None:
        self.stopping = True

    def _start(self) -> None:
        worker = _Worker(self.config)
        self.workers.append(worker)
        self.selector.register(worker.channel, selectors.EVENT_READ, lambda: self._read(worker))
        sentinel = worker.process.sentinel
        self.selector.register(sentinel, selectors.EVENT_READ, lambda: self._ended(worker))

    def _listen(self) -> None:
        """Accept once every worker has started, and from then on while any one is ready."""
        ready = [worker.ready for worker in self.workers]
        self.started = self.started or all(ready)
        listening = self.started and any(ready)
        if listening and not self.listening:
            self.selector.register(self.listener, selectors.EVENT_READ, self._accept)
        elif self.listening and not listening:
            self.selector.unregister(self.listener)
        self.listening = listening

    def _read(self, worker: _Worker) -> None:
        if worker not in self.workers:  # it ended earlier in the same round of events
            return
        if not worker.read_reports():
            self.selector.unregister(worker.channel)  # it stays readable: its process ends
        self._listen()

    def _ended(self, worker: _Worker) -> None:
        worker.process.join()
        code = worker.process.exitcode
        self.selector.unregister(worker.process.sentinel)
        if worker.channel in [key.fileobj for key in self.selector.get_map().values()]:
            self.selector.unregister(worker.channel)
        worker.channel.close()
        self.workers.remove(worker)
        self._listen()
        if self.stopping:
            return
        if code == STARTUP_FAILURE:
            logger.error("A worker process failed to start; stopping")
            self.stopping, self.failed = True, True
            return
        logger.warning("Worker process [%s] ended (%s); starting another", worker.process.pid, code)
        self._start()

    def _watch(self) -> None:
        """Ask each worker that has been quiet for half the stall time how it is, and kill
        each that has left the question unanswered for all of it; it is replaced once it has
        ended. The connections it holds, and those waiting for it, are lost."""
        for worker in self.workers:
            if not worker.ready:
                continue
            if worker.stalled(self.stall_seconds):
                logger.error(
                    "Worker process [%s] has not answered in %g s; killing it",
                    worker.process.pid,
                    self.stall_seconds,
                )
                worker.ready = False  # handed nothing more
                worker.process.kill()
                self._listen()
            elif worker.quiet_for() > self.stall_seconds / 2:
                worker.ask()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            with connection:
                self._hand(connection)

    def _hand(self, connection: socket.socket) -> None:
        """To the least busy ready worker (see the module's description). Its channel holds
        only a few connections not yet taken; when every ready worker's is full, wait for the
        least busy to take one. A connection no worker takes in time is closed: a reset, to
        its client."""
        for worker in self.workers:  # reports and a connection may come in one round of events
            worker.read_reports()
        ready = sorted(
            (w for w in self.workers if w.ready),
            key=lambda worker: (worker.in_use, worker.open, worker.handed_at),
        )
        for worker in ready:
            try:
                worker.hand(connection)
            except OSError:  # its channel is full, or its process has ended
                continue
            return
        if ready:
            ready[0].channel.settimeout(_HAND_SECONDS)
            try:
                ready[0].hand(connection)
                return
            except OSError:
                pass
            finally:
                ready[0].channel.setblocking(False)
        logger.warning("No worker process took a connection in time; it was closed")

    def _stop_workers(self) -> None:
        for worker in self.workers:
            worker.process.terminate()
        for worker in self.workers:
            worker.process.join(_STOP_SECONDS)
            if worker.process.exitcode is None:
                logger.warning("Worker process [%s] did not stop; killing it", worker.process.pid)
                worker.process.kill()
                worker.process.join()
            worker.channel.close()


def _work(config: uvicorn.Config, channel: socket.socket) -> None:
    """A worker process: serve the connections the supervisor hands over `channel`."""
    config.configure_logging()
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn raises its stop signal again
        _HandedServer(config, channel).run()


class _Counted(set[Any]):
    """A worker's open connections (uvicorn's record of them), reported whenever their
    number changes."""

    def __init__(self, report: Callable[[], None]) -> None:
        super().__init__()
        self._report = report

    def add(self, item: Any) -> None:
        super().add(item)
        self._report()

    def discard(self, item: Any) -> None:
        if item in self:
            super().discard(item)
            self._report()


class _HandedServer(uvicorn.Server):
    """uvicorn's server with no socket of its own: it serves connections from its channel."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self._channel = channel
        self._received = 0
        self._in_use = 0  # as last reported
        self._unsent = False  # a report the supervisor had no room for
        self._opening: set[asyncio.Task[None]] = set()
        self.server_state.connections = _Counted(self._report)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the application starts; nothing to listen on
        self._channel.setblocking(False)
        asyncio.get_running_loop().add_reader(self._channel.fileno(), self._receive)
        self._report()  # ready

    async def on_tick(self, counter: int) -> bool:
        # Connections left idle leave the count of those in use as time passes: looked at
        # every tick (0.1 s). One asked something again is reported at once (back_in_use).
        if self._unsent or self._connections_in_use() != self._in_use:
            self._report()
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        asyncio.get_running_loop().remove_reader(self._channel.fileno())
        await super().shutdown(sockets=sockets)

    def _receive(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                data, descriptors, _, _ = socket.recv_fds(self._channel, 64, 64)
            except BlockingIOError:
                return
            if not data:  # the supervisor has gone
                loop.remove_reader(self._channel.fileno())
                self.should_exit = True
                return
            if not descriptors:  # asked how it is
                self._report()
            for descriptor in descriptors:
                self._received += 1
                task = loop.create_task(self._open(socket.socket(fileno=descriptor)))
                self._opening.add(task)
                task.add_done_callback(self._opening.discard)

    async def _open(self, connection: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(self._protocol, connection)
        except OSError:  # the client left before it could be served
            connection.close()
            self._report()

    def _protocol(self) -> HeaderDeadline:
        protocol = HeaderDeadline(
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )
        protocol.back_in_use = self._report
        return protocol

    def _connections_in_use(self) -> int:
        now = time.monotonic()
        return sum(
            1
            for connection in self.server_state.connections
            if isinstance(connection, HeaderDeadline) and connection.in_use(now)
        )

    def _report(self) -> None:
        self._in_use = self._connections_in_use()
        report = _REPORT.pack(len(self.server_state.connections), self._received, self._in_use)
        try:
            self._channel.send(report)
        except BlockingIOError:
            self._unsent = True  # the supervisor is behind: sent again at the next tick
            return
        except OSError:  # the supervisor has gone
            self.should_exit = True
        self._unsent = False

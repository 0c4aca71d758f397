"""A misbehaving TCP proxy on 127.0.0.1, placed between bankfeeds and a server under test.

Each direction (``up``: client → server, ``down``: server → client) has its own ``Faults``: added
latency, a bandwidth cap (token bucket), or after N bytes a stall (sockets held open), a cut (clean
close) or a reset (RST). Faults can be changed while connections are open, from any thread; byte
counts and every fault that fired are recorded. Use ``async with FaultProxy(port) as p:`` inside a
test's event loop, or ``with FaultProxy.start_in_thread(port) as p:`` when the client runs
elsewhere (a subprocess, a synchronous test).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

Way = Literal["up", "down"]
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Faults:
    """What happens to the bytes flowing one way; the default passes them through untouched."""

    latency: float = 0.0
    rate: float | None = None
    stall_after: int | None = None
    cut_after: int | None = None
    reset_after: int | None = None

    def next_fault(self) -> tuple[int, str] | None:
        """The earliest byte threshold set, and what happens there."""
        marks = [(n, k) for k, n in (("stall", self.stall_after), ("cut", self.cut_after),
                                     ("reset", self.reset_after)) if n is not None]  # fmt: skip
        return min(marks) if marks else None


@dataclass(frozen=True)
class Trip:
    """One fault that fired: which, which way, after how many bytes of its connection, when."""

    kind: str
    way: Way
    after_bytes: int
    at: float


class _Bucket:
    """A token bucket that lets the balance go negative: takers sleep off their own debt."""

    def __init__(self) -> None:
        self.tokens, self.at = 0.0, time.monotonic()

    async def take(self, n: int, rate: float) -> None:
        now = time.monotonic()
        # A burst of at most 50 ms worth keeps the average rate honest over short transfers.
        self.tokens = min(rate / 20, self.tokens + (now - self.at) * rate) - n
        self.at = now
        if self.tokens < 0:
            await asyncio.sleep(-self.tokens / rate)


@dataclass
class FaultProxy:
    """Forwards 127.0.0.1:``port`` to ``target_host:target_port``, applying ``up``/``down``."""

    target_port: int
    up: Faults = field(default_factory=Faults)
    down: Faults = field(default_factory=Faults)
    target_host: str = "127.0.0.1"
    port: int = 0
    connections: int = 0
    sent: dict[str, int] = field(default_factory=lambda: {"up": 0, "down": 0})
    trips: list[Trip] = field(default_factory=list)
    tripped: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed = asyncio.Event()
        self._handlers: set[asyncio.Task[object]] = set()
        self._buckets = {"up": _Bucket(), "down": _Bucket()}

    def set(self, *, up: Faults | None = None, down: Faults | None = None) -> None:
        """Change the faults (``None`` keeps a direction's); wakes stalled pipes; any thread."""
        self.up, self.down = up or self.up, down or self.down
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        woken, self._changed = self._changed, asyncio.Event()
        woken.set()

    async def __aenter__(self) -> FaultProxy:
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    @classmethod
    @contextlib.contextmanager
    def start_in_thread(
        cls, target_port: int, *, up: Faults | None = None, down: Faults | None = None
    ) -> Iterator[FaultProxy]:
        """Run a proxy on its own event loop in a daemon thread for the ``with`` block."""
        proxy = cls(target_port, up=up or Faults(), down=down or Faults())
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="fault-proxy", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(proxy.__aenter__(), loop).result(timeout=30)
            yield proxy
            asyncio.run_coroutine_threadsafe(proxy.__aexit__(), loop).result(timeout=30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        writers, ending = [writer], "eof"
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
            writers.append(up_writer)
            for w in writers:  # drain() then means "handed to the kernel", so counts are exact
                w.transport.set_write_buffer_limits(0)
            pipes = [
                asyncio.create_task(self._pipe("up", reader, up_writer)),
                asyncio.create_task(self._pipe("down", up_reader, writer)),
            ]
            try:
                done, _ = await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
                ending = done.pop().result()
            finally:
                for pipe in pipes:
                    pipe.cancel()
                await asyncio.gather(*pipes, return_exceptions=True)
        except OSError:
            pass  # the server or the client went away; closing below is all there is to do
        finally:
            self._handlers.discard(task)
            for w in writers:
                if ending == "reset":  # SO_LINGER 0: close() sends RST instead of FIN
                    with contextlib.suppress(OSError):
                        sock = w.get_extra_info("socket")
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                w.close()
            for w in writers:
                with contextlib.suppress(Exception):
                    await w.wait_closed()

    async def _pipe(
        self, way: Way, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> str:
        """Forward one direction until EOF ("eof") or a cut or reset fires (its name)."""
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(maxsize=64)

        async def receive() -> None:
            # Reading ahead into a delay line adds latency without capping throughput at one
            # chunk per latency period.
            with contextlib.suppress(OSError):
                while data := await reader.read(_CHUNK):
                    await queue.put((time.monotonic(), data))
            await queue.put(None)

        feeder = asyncio.create_task(receive())
        sent = 0
        try:
            while (item := await queue.get()) is not None:
                arrived, data = item
                if (delay := arrived + self._faults(way).latency - time.monotonic()) > 0:
                    await asyncio.sleep(delay)
                while data:
                    faults = self._faults(way)
                    mark = faults.next_fault()
                    if mark is not None and sent >= mark[0]:
                        self._trip(mark[1], way, sent)
                        if mark[1] != "stall":
                            return mark[1]
                        await self._changed.wait()  # held open until the faults change
                        continue
                    room = len(data) if mark is None else mark[0] - sent
                    piece = data[: min(room, 16 * 1024 if faults.rate else len(data))]
                    if faults.rate:
                        await self._buckets[way].take(len(piece), faults.rate)
                    writer.write(piece)
                    await writer.drain()
                    sent += len(piece)
                    self.sent[way] += len(piece)
                    data = data[len(piece) :]
            return "eof"
        finally:
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)

    def _faults(self, way: Way) -> Faults:
        return self.up if way == "up" else self.down

    def _trip(self, kind: str, way: Way, after: int) -> None:
        last = self.trips[-1] if self.trips else None
        if last is None or (last.kind, last.way, last.after_bytes) != (kind, way, after):
            self.trips.append(Trip(kind, way, after, time.monotonic()))
        self.tripped.set()

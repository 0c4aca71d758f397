"""A TCP proxy on 127.0.0.1 that misbehaves after N bytes from the server, to test failure paths.

``mode="drop"`` closes both sides once ``limit`` bytes have gone server → client; ``mode="stall"``
stops forwarding but keeps the sockets open, like a hung server.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

Mode = Literal["drop", "stall"]


class ChokingProxy:
    """Forwards to ``127.0.0.1:target_port`` until ``limit`` server bytes, then drops or stalls."""

    def __init__(self, target_port: int, limit: int, mode: Mode) -> None:
        self.target_port = target_port
        self.limit = limit
        self.mode = mode
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self.choked = asyncio.Event()

    async def __aenter__(self) -> ChokingProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, up_writer]
        for coro in (
            self._pipe(reader, up_writer, None),
            self._pipe(up_reader, writer, self.limit),
        ):
            task = asyncio.create_task(coro)
            self._tasks.add(task)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limit: int | None
    ) -> None:
        sent = 0
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if limit is not None and sent + len(data) > limit:
                    writer.write(data[: limit - sent])
                    await self._choke()
                    return
                writer.write(data)
                sent += len(data)
                await writer.drain()
        writer.close()

    async def _choke(self) -> None:
        self.choked.set()
        if self.mode == "drop":
            for w in self._writers:
                w.close()
        else:
            await asyncio.Event().wait()  # hold everything open until the proxy is closed

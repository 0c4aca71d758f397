"""A tiny real HTTP/1.1 webhook receiver on a loopback port, in the test's own event loop."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Self


@dataclass
class Received:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """Answers each request with the next status of ``statuses`` (then 200), recording it.

    ``delay`` holds every answer back, to widen races; a status of 0 never answers (a hang).
    """

    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    url: str = ""
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    def bodies(self, path: str | None = None) -> list[Any]:
        """The JSON bodies received, optionally only those posted to ``path``."""
        return [r.body for r in self.requests if path is None or r.path == path]

    async def wait_for(self, count: int) -> None:
        """Wait until at least ``count`` requests have arrived (bound it with asyncio.timeout)."""
        while len(self.requests) < count:
            self._arrived.clear()
            await self._arrived.wait()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        line = await reader.readline()
        if not line.strip():
            return False
        method, path, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        status = self.statuses.pop(0) if self.statuses else 200
        self.requests.append(Received(method, path, headers, json.loads(body) if body else None))
        self._arrived.set()
        if status == 0:
            await asyncio.sleep(3600)  # hang: the client's timeout must end this
        if self.delay:
            await asyncio.sleep(self.delay)
        writer.write(
            f"HTTP/1.1 {status} Status\r\nContent-Type: application/json\r\n"
            f"Content-Length: 2\r\n\r\n{{}}".encode()
        )
        await writer.drain()
        return True

"""A staging-file writer that hashes off the event loop, so the loop only moves bytes.

Hashing between awaited reads drains the queue of outstanding SFTP requests and halves throughput
(docs/sftp.md); hashlib and file writes release the GIL on large buffers, so a thread overlaps them
with the network. Small files are held in memory and written and hashed in one hop to the
default executor: starting a thread per file cost more than the file (``Thread.start`` waits for
the new thread to take the GIL, which stalls the loop under load; bench/NOTES.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bankfeeds.core.errors import StorageError

_FINISH: Final = object()
_ABORT: Final = object()
#: Files up to this size never get a thread of their own.
SMALL_FILE: Final = 1 << 20


@dataclass(frozen=True)
class DownloadResult:
    """The SHA-256 and size of a file downloaded to its staging path (by any transport)."""

    sha256: str
    size: int


class HashingSink:
    """Writes blocks to a staging file and computes their SHA-256 off the event loop."""

    def __init__(self, dest: Path, max_pending: int = 16, *, hashing: bool = True) -> None:
        self._dest = dest
        self._hashing = hashing
        self._loop = asyncio.get_running_loop()
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        # Bounds memory when the disk is slower than the network.
        self._slots = asyncio.Semaphore(max_pending)
        self._done: asyncio.Future[tuple[str, int]] = self._loop.create_future()
        self._failure: OSError | None = None
        self._closed = False
        self._started = False
        self._held: list[bytes] = []
        self._held_size = 0

    async def put(self, data: bytes) -> None:
        """Queue one block, waiting while too many are pending."""
        if not self._started and self._held_size + len(data) <= SMALL_FILE:
            self._held.append(data)
            self._held_size += len(data)
            return
        if not self._started:
            # Past SMALL_FILE: worth a thread of its own; what was held goes first, as one block.
            self._started = True
            threading.Thread(
                target=self._run, args=(self._next,), name=f"sink:{self._dest.name}", daemon=True
            ).start()
            if self._held:
                await self._slots.acquire()
                self._queue.put(b"".join(self._held))
                self._held.clear()
        await self._slots.acquire()
        if self._failure is not None:
            raise self._storage_error()
        self._queue.put(data)

    async def finish(self) -> tuple[str, int]:
        """Flush and close the file; return its SHA-256 hex and size."""
        self._closed = True
        if self._started:
            self._queue.put(_FINISH)
        else:
            self._started = True
            items: list[object] = [*self._held, _FINISH]
            self._held.clear()
            self._loop.run_in_executor(None, self._run, iter(items).__next__)
        try:
            return await asyncio.shield(self._done)
        except OSError as exc:
            raise self._storage_error() from exc

    async def abort(self) -> None:
        """Stop, close and delete the staging file; safe to call after finish or twice."""
        if not self._closed:
            self._closed = True
            if self._started:
                self._queue.put(_ABORT)
            elif not self._done.done():
                self._done.cancel()  # nothing was written and no worker will settle it
        await asyncio.wait([self._done])
        if not self._done.cancelled():
            self._done.exception()  # retrieved, so asyncio does not log it as lost
        # Also after a finish (a later step failed): the file is complete but must still go.
        await asyncio.to_thread(self._dest.unlink, missing_ok=True)

    def _storage_error(self) -> StorageError:
        return StorageError(f"Could not write the staging file {self._dest}: {self._failure}.")

    def _run(self, take: Callable[[], object]) -> None:
        """Write and hash blocks from ``take`` until told to finish or abort (a worker thread)."""
        digest = hashlib.sha256()
        size = 0
        item: object = None
        try:
            with self._dest.open("wb") as out:
                while (item := take()) is not _FINISH:
                    if item is _ABORT:
                        break
                    assert isinstance(item, bytes)
                    out.write(item)
                    if self._hashing:
                        digest.update(item)
                    size += len(item)
            if item is _ABORT:
                self._dest.unlink(missing_ok=True)
        except OSError as exc:
            self._failure = exc
            # Failing on close (a full disk shows up there) means every block was taken already;
            # waiting for more would hang the download for good.
            if item is not _FINISH and item is not _ABORT:
                self._drain(take)
            self._settle(None, exc)
            return
        self._settle((digest.hexdigest() if self._hashing else "", size), None)

    def _next(self) -> object:
        item = self._queue.get()
        if isinstance(item, bytes):
            self._loop.call_soon_threadsafe(self._slots.release)
        return item

    @staticmethod
    def _drain(take: Callable[[], object]) -> None:
        """After a write error, keep taking blocks so a waiting ``put`` is never stuck."""
        while (item := take()) is not _FINISH and item is not _ABORT:
            pass

    def _settle(self, result: tuple[str, int] | None, error: OSError | None) -> None:
        def settle() -> None:
            if self._done.done():
                return
            if error is not None:
                self._done.set_exception(error)
            else:
                assert result is not None
                self._done.set_result(result)

        self._loop.call_soon_threadsafe(settle)

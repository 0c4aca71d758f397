"""The SFTP source: the only code that speaks SSH as a client (asyncssh).

The host key is checked by us, during key exchange and before authentication; downloads stream
through a worker thread that writes and hashes, so the event loop only keeps reads in flight.
"""

from __future__ import annotations

import asyncio
import stat
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import asyncssh

from bankfeeds.core.errors import BankfeedsError, HostKeyUntrusted, RemoteFileTooLarge
from bankfeeds.transports.sftp.address import checked_address
from bankfeeds.transports.sftp.errors import connect_error, transfer_error
from bankfeeds.transports.sftp.hostkey import HostKeyGate, load_client_key
from bankfeeds.transports.sftp.params import SftpParams
from bankfeeds.transports.sink import DownloadResult, HashingSink

#: aes128-gcm first: the asyncssh default (chacha20) costs about 40 % of throughput here.
CIPHERS = "^aes128-gcm@openssh.com"
SIDECAR_LIMIT = 64 * 1024
#: Reads in flight per file: what asyncssh's own ``get`` uses against OpenSSH's 255 KiB limit.
_WINDOW = 16
_MAX_BLOCK = 256 * 1024

Kind = Literal["file", "dir", "symlink", "other"]


@dataclass(frozen=True)
class RemoteEntry:
    """One directory entry as the server describes it (lstat: symlinks are not followed)."""

    name: str
    size: int
    mtime: float
    kind: Kind


def _kind(attrs: asyncssh.SFTPAttrs) -> Kind:
    mode = attrs.permissions
    if mode is None:
        by_type: dict[int, Kind] = {
            asyncssh.FILEXFER_TYPE_REGULAR: "file",
            asyncssh.FILEXFER_TYPE_DIRECTORY: "dir",
            asyncssh.FILEXFER_TYPE_SYMLINK: "symlink",
        }
        return by_type.get(attrs.type, "other")
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISREG(mode):
        return "file"
    return "dir" if stat.S_ISDIR(mode) else "other"


class SftpSource:
    """One logged-in SFTP session; open with ``SftpSource.connect(params)``."""

    def __init__(
        self, params: SftpParams, client: HostKeyGate, conn: asyncssh.SSHClientConnection
    ) -> None:
        self.params = params
        self._client = client
        self._conn = conn
        self._sftp: asyncssh.SFTPClient | None = None
        self._stalled = False
        self.host_key_fingerprint: str = client.fingerprint or ""
        self.host_key_is_new: bool = not params.trusted_fingerprints

    @staticmethod
    def connect(params: SftpParams) -> AbstractAsyncContextManager[SftpSource]:
        """Connect, check the host key, log in and start SFTP (an async context manager)."""
        return open_sftp(params)

    @asynccontextmanager
    async def _deadline(self, path: str) -> AsyncIterator[Callable[[], None]]:
        """Translate errors, and drop the connection when the server stalls; yields a re-arm.

        Dropping rather than cancelling: a cancelled SFTP call would still wait for its close
        reply, so a stalled server could hang us past the read timeout.
        """
        loop = asyncio.get_running_loop()
        timer = [loop.call_later(self.params.read_timeout, self._stall)]

        def rearm() -> None:
            timer[0].cancel()
            timer[0] = loop.call_later(self.params.read_timeout, self._stall)

        try:
            yield rearm
        except (asyncssh.Error, OSError) as exc:
            if self._stalled:
                raise transfer_error(TimeoutError(), path, self.params) from exc
            raise transfer_error(exc, path, self.params) from exc
        finally:
            timer[0].cancel()

    def _stall(self) -> None:
        self._stalled = True
        self._conn.abort()

    async def _start(self) -> None:
        async with self._deadline("the SFTP subsystem"):
            self._sftp = await self._conn.start_sftp_client()

    @property
    def connection_lost(self) -> bool:
        """Whether the SSH connection has dropped (so no further file can be fetched on it)."""
        return self._client.lost is not None or self._stalled

    @property
    def sftp(self) -> asyncssh.SFTPClient:
        """The underlying SFTP client session."""
        assert self._sftp is not None, "SftpSource used outside open_sftp()"
        return self._sftp

    async def list_dir(self, path: str) -> list[RemoteEntry]:
        """List a directory without following symlinks; names are untrusted and returned as is."""
        async with self._deadline(path):
            # Asked for as bytes: one name that is not UTF-8 must be refused on its own, not break
            # the listing (surrogate escapes keep it visible to the name checks).
            names = await self.sftp.readdir(path.encode())
        entries = []
        for n in names:
            raw = n.filename
            name = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else str(raw)
            if name in (".", ".."):
                continue
            size, mtime = n.attrs.size or 0, float(n.attrs.mtime or 0)
            entries.append(RemoteEntry(name, size, mtime, _kind(n.attrs)))
        return entries

    async def read_small(self, path: str, limit: int = SIDECAR_LIMIT) -> bytes:
        """Read a small file (a sidecar) into memory, refusing anything over ``limit`` bytes."""
        async with self._deadline(path), self.sftp.open(path, "rb") as f:
            data: bytes = await f.read(limit + 1)
        if len(data) > limit:
            raise RemoteFileTooLarge(f"{path} is larger than {limit} bytes; it is not a sidecar.")
        return data

    async def download(
        self,
        remote_path: str,
        dest: Path,
        on_progress: Callable[[int], None] | None = None,
        *,
        hashing: bool = True,
    ) -> DownloadResult:
        """Stream a file to ``dest``, hashing in the same pass; ``dest`` is removed on failure.

        ``hashing=False`` (the SHA-256 comes back empty) exists only so ``bench/sftp.py`` can
        measure what hashing costs; the pipeline always hashes.
        """
        sink = HashingSink(dest, hashing=hashing)
        try:
            async with self._deadline(remote_path) as rearm:
                await self._copy(remote_path, sink, rearm, on_progress)
            sha256, size = await sink.finish()
        except BaseException:
            await sink.abort()
            raise
        return DownloadResult(sha256=sha256, size=size)

    async def _copy(
        self,
        path: str,
        sink: HashingSink,
        rearm: Callable[[], None],
        on_progress: Callable[[int], None] | None,
    ) -> None:
        """Keep a window of reads in flight and hand the blocks, in order, to the sink."""
        async with self.sftp.open(path, "rb") as f:
            block = min(f.read_len or _MAX_BLOCK, _MAX_BLOCK)
            # The first read goes out with the stat: a small file costs a round trip less.
            first: asyncio.Task[bytes] = asyncio.ensure_future(f.read(block, 0))
            window = deque([first])
            offset, done = block, 0
            try:
                size = (await f.stat()).size or 0
                while True:
                    # One read past the listed size goes out with the others: it confirms the end
                    # of file; if the file grew, reads continue one at a time until it ends.
                    while len(window) < _WINDOW and (offset < size + block or not window):
                        window.append(asyncio.ensure_future(f.read(block, offset)))
                        offset += block
                    data = await window.popleft()
                    rearm()
                    if not data:
                        return
                    await sink.put(data)
                    done += len(data)
                    if on_progress is not None:
                        on_progress(done)
            finally:
                for task in window:
                    task.cancel()
                await asyncio.gather(*window, return_exceptions=True)

    async def download_many(
        self, items: Sequence[tuple[str, Path]]
    ) -> list[DownloadResult | BankfeedsError]:
        """Download (remote path, staging path) pairs concurrently; one outcome per item, in order.

        A lost connection or a stalled server ends the batch: items not yet started get that error.
        """
        slots = asyncio.Semaphore(max(1, self.params.max_files_in_flight))
        fatal: list[BankfeedsError] = []

        async def one(remote: str, dest: Path) -> DownloadResult | BankfeedsError:
            async with slots:
                if fatal:
                    return fatal[0]
                try:
                    return await self.download(remote, dest)
                except BankfeedsError as exc:
                    if self._client.lost is not None:
                        fatal.append(exc)
                    return exc

        return list(await asyncio.gather(*(one(r, d) for r, d in items)))


async def _connect(params: SftpParams, gate: HostKeyGate) -> asyncssh.SSHClientConnection:
    address = params.host
    if params.allow_hosts is not None:
        address = await checked_address(
            params.host, params.port, params.allow_hosts, lookup_seconds=params.connect_timeout
        )
    try:
        return await asyncssh.connect(
            address,
            params.port,
            username=params.username,
            password=params.password,
            client_keys=load_client_key(params),
            client_factory=lambda: gate,
            # Empty trust lists (not None) make asyncssh ask validate_host_public_key, and
            # config/agent off keep ~/.ssh out of the picture.
            known_hosts=([], [], []),
            config=None,
            agent_path=None,
            encryption_algs=CIPHERS,
            connect_timeout=params.connect_timeout,
        )
    except (asyncssh.Error, OSError) as exc:
        raise connect_error(exc, gate.refusal, params) from exc


@asynccontextmanager
async def open_sftp(params: SftpParams) -> AsyncIterator[SftpSource]:
    """Connect, check the host key, log in and start SFTP; closes everything on exit."""
    client = HostKeyGate(params)
    conn = await _connect(params, client)
    source = SftpSource(params, client, conn)
    try:
        await source._start()
        async with source.sftp:
            yield source
    finally:
        conn.close()
        try:
            async with asyncio.timeout(params.connect_timeout):
                await conn.wait_closed()
        except TimeoutError:
            conn.abort()


async def probe_fingerprint(host: str, port: int, connect_timeout: float = 15) -> str:
    """The SHA-256 fingerprint of a server's host key, read without logging in."""
    params = SftpParams(host, port, "bankfeeds-probe", connect_timeout=connect_timeout)
    gate = HostKeyGate(params)  # strict with no pins: refuses the key, so nothing is sent
    try:
        conn = await _connect(params, gate)
    except HostKeyUntrusted:
        assert gate.fingerprint is not None
        return gate.fingerprint
    conn.abort()
    raise HostKeyUntrusted(f"{host}:{port} was not asked for its host key.")

"""The embedded bank SFTP server (asyncssh) for demos and tests: user ``bank``, files in /upload.

Its ed25519 host key is generated once and kept, so connectors can pin its fingerprint.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import asyncssh

DEFAULT_USERS: Mapping[str, str] = {"bank": "bankpass"}


def ensure_host_key(host_key_path: Path) -> asyncssh.SSHKey:
    """Load the sandbox host key, generating an ed25519 key on first use."""
    if host_key_path.exists():
        return asyncssh.read_private_key(host_key_path)
    host_key_path.parent.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519")
    # Created 0600 from the start: sshd-style tools refuse readable host keys.
    fd = os.open(host_key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.export_private_key())
    return key


def fingerprint(host_key_path: Path) -> str:
    """The OpenSSH SHA-256 fingerprint (``SHA256:…``) of the sandbox host key."""
    return str(ensure_host_key(host_key_path).get_fingerprint("sha256"))


class _ChrootedSFTP(asyncssh.SFTPServer):
    """asyncssh's chroot, plus a refusal of symlinks that resolve outside the root."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], root: bytes) -> None:
        super().__init__(chan, chroot=root)
        self._root = root

    def map_path(self, path: bytes) -> bytes:
        """Map a client path under the root, refusing one that a symlink leads out of it."""
        local = super().map_path(path)
        real = os.path.realpath(local)
        if real != self._root and not real.startswith(self._root + b"/"):
            raise asyncssh.SFTPPermissionDenied("Path leads outside the sandbox root")
        return local


class _BankServer(asyncssh.SSHServer):
    """Password (and optionally public-key) authentication against fixed sandbox users."""

    def __init__(self, users: Mapping[str, str], authorized_keys: Mapping[str, str]) -> None:
        self._users = users
        self._authorized_keys = authorized_keys
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        """Keep the connection so per-user authorized keys can be set on it."""
        self._conn = conn

    def begin_auth(self, username: str) -> bool:
        """Require authentication for everyone; load the user's authorized keys if any."""
        keys = self._authorized_keys.get(username)
        if keys and self._conn is not None:
            self._conn.set_authorized_keys(asyncssh.import_authorized_keys(keys))
        return True

    def password_auth_supported(self) -> bool:
        """Passwords are the sandbox's main way in."""
        return True

    def validate_password(self, username: str, password: str) -> bool:
        """Accept only the configured password, compared in constant time."""
        expected = self._users.get(username)
        return expected is not None and hmac.compare_digest(expected, password)

    def public_key_auth_supported(self) -> bool:
        """Offer keys only when some user has authorized keys."""
        return bool(self._authorized_keys)


def default_host_key_path(root: Path) -> Path:
    """Where the host key lives by default: beside the root, never inside it."""
    return root.resolve().parent / "sandbox_host_ed25519_key"


def _prepare(root: Path, host_key_path: Path) -> tuple[Path, asyncssh.SSHKey]:
    root = root.resolve()
    (root / "upload").mkdir(parents=True, exist_ok=True)
    return root, ensure_host_key(host_key_path)


@dataclass
class SandboxHandle:
    """A running sandbox server; ``await close()`` (or ``async with``) stops it."""

    host: str
    port: int
    root: Path
    fingerprint: str
    _acceptor: asyncssh.SSHAcceptor

    async def close(self) -> None:
        """Stop accepting and close open connections."""
        self._acceptor.close()
        await self._acceptor.wait_closed()

    async def __aenter__(self) -> SandboxHandle:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def start_sandbox(
    *,
    root: Path,
    host_key_path: Path,
    host: str = "127.0.0.1",
    port: int = 2222,
    users: Mapping[str, str] | None = None,
    authorized_keys: Mapping[str, str] | None = None,
) -> SandboxHandle:
    """Start the sandbox SFTP server chrooted to ``root`` (port 0 picks a free port).

    ``authorized_keys`` maps a user name to OpenSSH authorized_keys text.
    """
    root, key = _prepare(root, host_key_path)
    users = dict(DEFAULT_USERS if users is None else users)
    keys = dict(authorized_keys or {})
    chroot = os.fsencode(root)
    acceptor = await asyncssh.create_server(
        lambda: _BankServer(users, keys),
        host,
        port,
        server_host_keys=[key],
        sftp_factory=lambda chan: _ChrootedSFTP(chan, chroot),
        allow_scp=False,
        agent_forwarding=False,
        x11_forwarding=False,
    )
    return SandboxHandle(
        host, acceptor.get_port(), root, str(key.get_fingerprint("sha256")), acceptor
    )


async def run_sandbox_forever(
    *,
    root: Path,
    host: str = "127.0.0.1",
    port: int = 2222,
    host_key_path: Path | None = None,
    users: Mapping[str, str] | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve until SIGTERM or SIGINT, after announcing where and as whom to connect."""
    key_path = host_key_path or default_host_key_path(root)
    handle = await start_sandbox(
        root=root, host_key_path=key_path, host=host, port=port, users=users
    )
    user = next(iter(users or DEFAULT_USERS))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        announce(
            f"bankfeeds sandbox: sftp://{user}@{handle.host}:{handle.port} root={handle.root} "
            f"host-key={handle.fingerprint}"
        )
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await handle.close()

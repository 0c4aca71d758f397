"""One SFTP server under test: the embedded sandbox or OpenSSH sshd, with a fresh directory."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from bankfeeds.sandbox.server import SandboxHandle, start_sandbox
from bankfeeds.transports.sftp.params import SftpParams
from tests.support.sshd import PASSWORD, PASSWORD_USER, Sshd


@dataclass(frozen=True)
class Target:
    """One server under test, logged in as a password user, with a fresh directory of its own."""

    kind: str
    host: str
    port: int
    username: str
    password: str
    fingerprint: str
    remote_dir: str
    local_dir: Path

    def params(self, **overrides: Any) -> SftpParams:
        """Connection settings pinned to the server's real key; short timeouts for tests."""
        base = SftpParams(
            host=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            host_key_policy="strict",
            trusted_fingerprints=(self.fingerprint,),
            connect_timeout=10,
            read_timeout=10,
        )
        return replace(base, **overrides)

    def put(self, name: str, data: bytes) -> str:
        """Place a file where the server serves it; return its remote path."""
        (self.local_dir / name).write_bytes(data)
        return f"{self.remote_dir}/{name}"


@contextmanager
def threaded_sandbox(root: Path, host_key_path: Path) -> Iterator[SandboxHandle]:
    """Run the sandbox on its own loop in a thread, so sync and async tests can both use it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    started = asyncio.run_coroutine_threadsafe(
        start_sandbox(root=root, host_key_path=host_key_path, port=0), loop
    )
    handle = started.result(timeout=30)
    try:
        yield handle
    finally:
        asyncio.run_coroutine_threadsafe(handle.close(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


@pytest.fixture(params=["sandbox", pytest.param("sshd", marks=pytest.mark.sshd)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    """The embedded sandbox or OpenSSH sshd, each serving a directory only this test uses."""
    if request.param == "sandbox":
        with threaded_sandbox(tmp_path / "root", tmp_path / "host_key") as handle:
            local = handle.root / "upload" / "t"
            local.mkdir()
            yield Target(
                "sandbox",
                handle.host,
                handle.port,
                "bank",
                "bankpass",
                handle.fingerprint,
                "/upload/t",
                local,
            )
        return
    server: Sshd = request.getfixturevalue("sshd")
    remote, local = server.fresh_dir(PASSWORD_USER)
    yield Target(
        "sshd", server.host, server.port, PASSWORD_USER, PASSWORD, server.fingerprint, remote, local
    )
    shutil.rmtree(local, ignore_errors=True)

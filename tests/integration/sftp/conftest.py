"""Fixtures for the SFTP adapter tests: the same test against the sandbox and against OpenSSH."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from tests.support.sshd import PASSWORD, PASSWORD_USER, Sshd, sshd

from bankfeeds.adapters.sftp import SftpParams
from bankfeeds.sandbox.server import start_sandbox

__all__ = ["Target", "sshd"]


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


@pytest.fixture(params=["sandbox", pytest.param("sshd", marks=pytest.mark.sshd)])
async def target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Target]:
    """The embedded sandbox or OpenSSH sshd, each serving a directory only this test uses."""
    if request.param == "sandbox":
        handle = await start_sandbox(
            root=tmp_path / "root", host_key_path=tmp_path / "host_key", port=0
        )
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
        await handle.close()
        return
    server: Sshd = request.getfixturevalue("sshd")
    remote, local = server.fresh_dir(PASSWORD_USER)
    yield Target(
        "sshd", server.host, server.port, PASSWORD_USER, PASSWORD, server.fingerprint, remote, local
    )
    shutil.rmtree(local, ignore_errors=True)

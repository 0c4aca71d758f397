"""The embedded sandbox server: stable host key, chroot, refusals, and the CLI entry point."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import asyncssh
import pytest

from bankfeeds.core.errors import AuthenticationFailed, NoSuchPath, SourcePermissionDenied
from bankfeeds.sandbox.server import fingerprint, run_sandbox_forever, start_sandbox
from bankfeeds.transports.sftp.client import open_sftp
from bankfeeds.transports.sftp.params import SftpParams


def params(port: int, fp: str, **overrides: str | None) -> SftpParams:
    base = {"username": "bank", "password": "bankpass"} | overrides
    return SftpParams(
        host="127.0.0.1",
        port=port,
        username=base["username"] or "",
        password=base["password"],
        private_key=base.get("private_key"),
        trusted_fingerprints=(fp,),
    )


async def test_fingerprint_is_stable_across_restarts(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "host_key"
    first = await start_sandbox(root=tmp_path / "root", host_key_path=key, port=0)
    await first.close()
    second = await start_sandbox(root=tmp_path / "root", host_key_path=key, port=0)
    await second.close()
    assert first.fingerprint == second.fingerprint == fingerprint(key)
    assert first.fingerprint.startswith("SHA256:")
    assert key.stat().st_mode & 0o077 == 0


async def test_chroot_cannot_be_escaped(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_bytes(b"outside the root\n")
    root = tmp_path / "root"
    async with await start_sandbox(root=root, host_key_path=tmp_path / "k", port=0) as sandbox:
        os.symlink(tmp_path / "secret.txt", root / "upload" / "escape.txt")
        async with open_sftp(params(sandbox.port, sandbox.fingerprint)) as src:
            top = sorted(e.name for e in await src.list_dir("/.."))
            above = sorted(e.name for e in await src.list_dir("/upload/../.."))
            with pytest.raises(NoSuchPath):
                await src.read_small("/../secret.txt")
            with pytest.raises(SourcePermissionDenied):
                await src.read_small("/upload/escape.txt")
    assert top == above == ["upload"]


@pytest.mark.parametrize(("user", "password"), [("bank", "wrong"), ("root", "bankpass")])
async def test_wrong_credentials_are_refused(tmp_path: Path, user: str, password: str) -> None:
    async with await start_sandbox(root=tmp_path / "r", host_key_path=tmp_path / "k", port=0) as sb:
        with pytest.raises(AuthenticationFailed):
            async with open_sftp(params(sb.port, sb.fingerprint, username=user, password=password)):
                pass


async def test_authorized_key_logs_in(tmp_path: Path) -> None:
    client = asyncssh.generate_private_key("ssh-ed25519")
    authorized = {"bank": client.export_public_key().decode()}
    async with await start_sandbox(
        root=tmp_path / "r", host_key_path=tmp_path / "k", port=0, authorized_keys=authorized
    ) as sb:
        key_text = client.export_private_key().decode()
        async with open_sftp(params(sb.port, sb.fingerprint, password=None, private_key=key_text)):
            pass


async def test_run_forever_announces_and_stops_on_sigterm(tmp_path: Path) -> None:
    lines: list[str] = []
    announced = asyncio.Event()

    def announce(line: str) -> None:
        lines.append(line)
        announced.set()

    task = asyncio.create_task(
        run_sandbox_forever(root=tmp_path / "root", port=0, announce=announce)
    )
    await asyncio.wait_for(announced.wait(), 30)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(task, 30)
    host_key = tmp_path / "sandbox_host_ed25519_key"
    assert "sftp://bank@127.0.0.1:" in lines[0]
    assert fingerprint(host_key) in lines[0]

"""A server that lists hostile names: they are flagged, symlinks are reported, nothing escapes."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import asyncssh

from bankfeeds.connectors.model import ConnectorCreate
from bankfeeds.connectors.patterns import unsafe_name_reason
from bankfeeds.pipeline import handoff
from bankfeeds.pipeline import run as ingest
from bankfeeds.scheduling import runs
from bankfeeds.scheduling import views as run_views
from bankfeeds.storage.context import AppContext
from bankfeeds.transports.sftp.client import open_sftp
from bankfeeds.transports.sftp.params import SftpParams

HOSTILE = [b"../x", b"/etc/passwd", b"a/b", b"..\\evil", b"bad\nname.csv", b"nul\x00.csv"]


class _HostileSFTP(asyncssh.SFTPServer):
    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], root: bytes) -> None:
        super().__init__(chan, chroot=root)

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        async for name in super().scandir(path):
            yield name
        for bad in HOSTILE:
            attrs = asyncssh.SFTPAttrs(permissions=0o100644, size=5, mtime=0)
            yield asyncssh.SFTPName(bad, attrs=attrs)


class _NoAuth(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return False


def _prepare(root: Path, outside: Path) -> None:
    root.mkdir()
    outside.write_bytes(b"outside\n")
    (root / "good.csv").write_bytes(b"good\n")
    os.symlink(outside, root / "link.csv")


async def test_hostile_listing(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside.csv"
    _prepare(root, outside)
    key = asyncssh.generate_private_key("ssh-ed25519")
    server = await asyncssh.create_server(
        _NoAuth,
        "127.0.0.1",
        0,
        server_host_keys=[key],
        sftp_factory=lambda chan: _HostileSFTP(chan, os.fsencode(root)),
    )
    staging = tmp_path / "staging"
    staging.mkdir()
    params = SftpParams(
        host="127.0.0.1",
        port=server.get_port(),
        username="anyone",
        trusted_fingerprints=(key.get_fingerprint("sha256"),),
    )
    try:
        async with open_sftp(params) as src:
            entries = await src.list_dir("/")
            # What a caller must do: skip unsafe names and anything that is not a plain file.
            wanted = [e for e in entries if e.kind == "file" and unsafe_name_reason(e.name) is None]
            for entry in wanted:
                await src.download(f"/{entry.name}", staging / entry.name)
    finally:
        server.close()
        await server.wait_closed()

    kinds = {e.name: e.kind for e in entries}
    assert kinds["good.csv"] == "file"
    assert kinds["link.csv"] == "symlink"
    for bad in HOSTILE:
        assert unsafe_name_reason(bad.decode()) is not None, bad
    assert [e.name for e in wanted] == ["good.csv"]
    assert sorted(os.listdir(tmp_path)) == ["outside.csv", "root", "staging"]
    assert os.listdir(staging) == ["good.csv"]
    assert outside.read_bytes() == b"outside\n"


PIPELINE_HOSTILE = [
    b"../AXIS_RECON_20250110.csv",
    b"/etc/AXIS_RECON_20250110.csv",
    b"up/AXIS_RECON_20250110.csv",
    b"AXIS_RECON_20250110\x01.csv",
]


class _HostileBank(asyncssh.SFTPServer):
    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], root: bytes) -> None:
        super().__init__(chan, chroot=root)

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        async for name in super().scandir(path):
            yield name
        for bad in PIPELINE_HOSTILE:
            attrs = asyncssh.SFTPAttrs(permissions=0o100644, size=5, mtime=0)
            yield asyncssh.SFTPName(bad, attrs=attrs)


async def test_pipeline_rejects_hostile_names_and_writes_nothing_outside(
    tmp_path: Path, ctx: AppContext
) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside.csv"
    root.mkdir()
    outside.write_bytes(b"outside\n")
    good = b"TXNID\nT1\n"
    (root / "AXIS_RECON_20250110.csv").write_bytes(good)
    digest = hashlib.sha256(good).hexdigest()
    (root / "AXIS_RECON_20250110.csv.sha256").write_text(f"{digest}  AXIS_RECON_20250110.csv\n")
    os.symlink(outside, root / "AXIS_RECON_20250110_link.csv")
    before = sorted(p.name for p in tmp_path.iterdir())
    key = asyncssh.generate_private_key("ssh-ed25519")
    server = await asyncssh.create_server(
        _NoAuth,
        "127.0.0.1",
        0,
        server_host_keys=[key],
        sftp_factory=lambda chan: _HostileBank(chan, os.fsencode(root)),
    )
    try:
        body = ConnectorCreate.model_validate(
            {
                "name": "hostile",
                "type": "SFTP",
                "provider": "AXIS",
                "config": {
                    "host": "127.0.0.1",
                    "port": server.get_port(),
                    "username": "u",
                    "password": "p",
                    "remotePath": "/",
                    "checksumExt": ".sha256",
                    "hostKeyFingerprint": key.get_fingerprint("sha256"),
                },
            }
        )
        view, _ = await handoff.create_connector(
            ctx=ctx, body=body, actor="t", idempotency_key=None
        )
        run = await runs.start_run(
            ctx=ctx,
            connector_id=view["id"],
            cycle_date=date(2025, 1, 10),
            trigger="MANUAL",
            force=False,
            actor="t",
            worker_id="test-worker",
        )
        await ingest.execute(ctx, run.id, "test-worker")
        result = await run_views.get_run(ctx=ctx, run_id=f"run_{run.id}")
    finally:
        server.close()
        await server.wait_closed()
    outcomes = {f["name"]: f["outcome"] for f in result["files"]}
    assert outcomes["AXIS_RECON_20250110.csv"] == "DOWNLOADED"
    assert outcomes["AXIS_RECON_20250110_link.csv"] == "REJECTED"
    assert sum(o == "REJECTED" for o in outcomes.values()) == len(PIPELINE_HOSTILE) + 1
    # "TXNID\nT1" is no AXIS file: fetched and kept, then found unreadable.
    assert (result["filesDownloaded"], result["filesFailed"]) == (0, 1)
    assert result["status"] == "FAILED" and result["errorCode"] == "file-unreadable"
    # The test's own SQLite database (and its WAL files) lives here too.
    after = {p.name for p in tmp_path.iterdir() if not p.name.startswith("test.db")}
    assert after == {*before, "data"} - {"test.db"}
    assert outside.read_bytes() == b"outside\n"
    written = [p for p in ctx.settings.data_dir.rglob("*") if p.is_file()]
    assert all(p.is_relative_to(ctx.settings.data_dir) for p in written)
    assert [p.name for p in written] == [digest]

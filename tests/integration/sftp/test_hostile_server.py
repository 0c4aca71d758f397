"""A server that lists hostile names: they are flagged, symlinks are reported, nothing escapes."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh

from bankfeeds.adapters.sftp import SftpParams, open_sftp
from bankfeeds.domain.patterns import unsafe_name_reason

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

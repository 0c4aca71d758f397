"""The SFTP adapter against real servers: the embedded sandbox and OpenSSH sshd."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest
from tests.support.faultproxy import FaultProxy, Faults
from tests.support.sshd import KEY_USER, PASSWORD, PASSWORD_USER, Sshd, free_port
from tests.support.targets import Target

from bankfeeds.core.errors import (
    AuthenticationFailed,
    HostKeyMismatch,
    HostKeyUntrusted,
    InvalidPrivateKey,
    NoSuchPath,
    RemoteFileTooLarge,
    SourcePermissionDenied,
    SourceTimeout,
    SourceUnreachable,
    TransferFailed,
)
from bankfeeds.transports.sftp.client import SftpSource, open_sftp, probe_fingerprint
from bankfeeds.transports.sink import DownloadResult

MiB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def staging_dir(tmp_path: Path) -> Path:
    """A directory of its own, apart from the sandbox's root and host key under tmp_path."""
    staging = tmp_path / "staging"
    staging.mkdir()
    return staging


def names_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def test_lists_and_downloads_with_the_right_sha256(target: Target, tmp_path: Path) -> None:
    body = os.urandom(300_000)
    remote = target.put("AXIS_RECON_20250101.csv", body)
    target.put("AXIS_RECON_20250101.csv.sha256", f"{sha(body)}  AXIS_RECON_20250101.csv\n".encode())
    (target.local_dir / "archive").mkdir()
    os.symlink("AXIS_RECON_20250101.csv", target.local_dir / "latest.csv")
    progress: list[int] = []

    async with open_sftp(target.params()) as src:
        entries = {e.name: e for e in await src.list_dir(target.remote_dir)}
        sidecar = await src.read_small(remote + ".sha256")
        result = await src.download(remote, tmp_path / "staged", progress.append)

    assert set(entries) == {
        "AXIS_RECON_20250101.csv",
        "AXIS_RECON_20250101.csv.sha256",
        "archive",
        "latest.csv",
    }
    assert entries["AXIS_RECON_20250101.csv"].kind == "file"
    assert entries["AXIS_RECON_20250101.csv"].size == len(body)
    assert entries["AXIS_RECON_20250101.csv"].mtime > 0
    assert entries["archive"].kind == "dir"
    assert entries["latest.csv"].kind == "symlink"
    assert sidecar.startswith(sha(body).encode())
    assert result == DownloadResult(sha256=sha(body), size=len(body))
    assert (tmp_path / "staged").read_bytes() == body
    assert progress[-1] == len(body)
    assert progress == sorted(progress)


async def test_downloads_a_20_mib_file(target: Target, tmp_path: Path) -> None:
    body = os.urandom(20 * MiB)
    remote = target.put("big.csv", body)
    async with open_sftp(target.params()) as src:
        result = await src.download(remote, tmp_path / "big")
    assert result == DownloadResult(sha(body), len(body))
    assert sha((tmp_path / "big").read_bytes()) == sha(body)


async def test_empty_file_downloads_as_empty(target: Target, tmp_path: Path) -> None:
    remote = target.put("empty.csv", b"")
    async with open_sftp(target.params()) as src:
        result = await src.download(remote, tmp_path / "empty")
    assert result == DownloadResult(sha(b""), 0)
    assert (tmp_path / "empty").read_bytes() == b""


async def test_lists_and_downloads_1000_small_files_concurrently(
    target: Target, tmp_path: Path
) -> None:
    bodies = {f"f{i:04}.csv": os.urandom(1000 + i) for i in range(1000)}
    for name, body in bodies.items():
        target.put(name, body)
    staging = staging_dir(tmp_path)
    async with open_sftp(target.params(max_files_in_flight=16)) as src:
        names = sorted(e.name for e in await src.list_dir(target.remote_dir))
        results = await src.download_many(
            [(f"{target.remote_dir}/{n}", staging / n) for n in names]
        )
    assert names == sorted(bodies)
    assert results == [DownloadResult(sha(bodies[n]), len(bodies[n])) for n in names]
    assert names_in(staging) == names


async def test_one_failure_does_not_stop_the_batch(target: Target, tmp_path: Path) -> None:
    good = target.put("good.csv", b"a,b\n1,2\n")
    async with open_sftp(target.params()) as src:
        results = await src.download_many(
            [(f"{target.remote_dir}/missing.csv", tmp_path / "m"), (good, tmp_path / "g")]
        )
    assert isinstance(results[0], NoSuchPath)
    assert "missing.csv" in results[0].message
    assert results[1] == DownloadResult(sha(b"a,b\n1,2\n"), 8)
    assert not (tmp_path / "m").exists()


async def test_missing_paths_and_oversized_sidecars(target: Target, tmp_path: Path) -> None:
    big = target.put("huge.sha256", b"x" * 70_000)
    async with open_sftp(target.params()) as src:
        with pytest.raises(NoSuchPath):
            await src.list_dir(f"{target.remote_dir}/nope")
        with pytest.raises(NoSuchPath):
            await src.download(f"{target.remote_dir}/nope.csv", tmp_path / "nope")
        with pytest.raises(RemoteFileTooLarge):
            await src.read_small(big)
    assert not (tmp_path / "nope").exists()


async def test_wrong_password_is_refused(target: Target) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        async with open_sftp(target.params(password="wrong")):
            pass
    assert target.username in caught.value.message


async def test_wrong_pinned_key_is_refused_before_anything_is_written(
    target: Target, tmp_path: Path
) -> None:
    pinned = "SHA256:" + "A" * 43
    staging = staging_dir(tmp_path)
    with pytest.raises(HostKeyMismatch) as caught:
        async with open_sftp(target.params(trusted_fingerprints=(pinned,))) as src:
            await src.download(f"{target.remote_dir}/x", staging / "x")
    assert target.fingerprint in caught.value.message
    assert caught.value.fingerprint == target.fingerprint
    assert pinned in caught.value.message
    assert "admin must trust" in caught.value.message
    assert names_in(staging) == []


async def test_strict_policy_without_a_pin_is_refused(target: Target) -> None:
    with pytest.raises(HostKeyUntrusted) as caught:
        async with open_sftp(target.params(trusted_fingerprints=())):
            pass
    assert target.fingerprint in caught.value.message
    assert caught.value.fingerprint == target.fingerprint


async def test_accept_new_reports_the_real_fingerprint(target: Target) -> None:
    params = target.params(host_key_policy="accept-new", trusted_fingerprints=())
    async with SftpSource.connect(params) as src:
        assert src.host_key_is_new
        assert src.host_key_fingerprint == target.fingerprint
    async with SftpSource.connect(target.params(host_key_policy="accept-new")) as src:
        assert not src.host_key_is_new
    assert await probe_fingerprint(target.host, target.port) == target.fingerprint


async def test_unreachable_port(target: Target) -> None:
    with pytest.raises(SourceUnreachable) as caught:
        async with open_sftp(target.params(port=free_port())):
            pass
    assert "127.0.0.1" in caught.value.message


async def test_connection_dropped_mid_transfer(target: Target, tmp_path: Path) -> None:
    remote = target.put("big.csv", os.urandom(12 * MiB))
    staging = staging_dir(tmp_path)
    async with FaultProxy(target.port, down=Faults(cut_after=2 * MiB)) as proxy:
        with pytest.raises(TransferFailed):
            async with open_sftp(target.params(port=proxy.port)) as src:
                await src.download(remote, staging / "staged")
    assert [t.kind for t in proxy.trips] == ["cut"]
    assert names_in(staging) == []


async def test_stalled_server_times_out(target: Target, tmp_path: Path) -> None:
    remote = target.put("big.csv", os.urandom(12 * MiB))
    staging = staging_dir(tmp_path)
    async with FaultProxy(target.port, down=Faults(stall_after=2 * MiB)) as proxy:
        params = target.params(port=proxy.port, read_timeout=1.0)
        # A generous guard so a regression fails instead of hanging; no timing is asserted.
        async with asyncio.timeout(60):
            with pytest.raises(SourceTimeout) as caught:
                async with open_sftp(params) as src:
                    await src.download(remote, staging / "a")
    assert "1 s" in caught.value.message
    assert names_in(staging) == []


@pytest.mark.sshd
async def test_permission_denied_on_sshd(sshd: Sshd, tmp_path: Path) -> None:
    remote, local = sshd.fresh_dir(PASSWORD_USER)
    (local / "secret.csv").write_bytes(b"no")
    (local / "secret.csv").chmod(0o600)  # owned by root; the SFTP user may not read it
    target = Target(
        "sshd", sshd.host, sshd.port, PASSWORD_USER, PASSWORD, sshd.fingerprint, remote, local
    )
    async with open_sftp(target.params()) as src:
        with pytest.raises(SourcePermissionDenied):
            await src.download(f"{remote}/secret.csv", tmp_path / "s")
    assert not (tmp_path / "s").exists()


@pytest.mark.sshd
@pytest.mark.parametrize("key_kind", ["ed25519", "rsa"])
async def test_key_authentication_on_sshd(sshd: Sshd, key_kind: str, tmp_path: Path) -> None:
    key = sshd.keys[key_kind]
    remote, local = sshd.fresh_dir(KEY_USER)
    (local / "k.csv").write_bytes(b"key auth works\n")
    target = Target("sshd", sshd.host, sshd.port, KEY_USER, "", sshd.fingerprint, remote, local)
    params = target.params(password=None, private_key=key.private_text, passphrase=key.passphrase)
    async with open_sftp(params) as src:
        result = await src.download(f"{remote}/k.csv", tmp_path / "k")
    assert result.sha256 == sha(b"key auth works\n")


@pytest.mark.sshd
async def test_bad_passphrase_is_our_error(sshd: Sshd) -> None:
    key = sshd.keys["rsa"]
    target = Target("sshd", sshd.host, sshd.port, KEY_USER, "", sshd.fingerprint, "/", Path("/"))
    params = target.params(password=None, private_key=key.private_text, passphrase="wrong")
    with pytest.raises(InvalidPrivateKey):
        async with open_sftp(params):
            pass
    with pytest.raises(InvalidPrivateKey):
        async with open_sftp(target.params(private_key="not a key")):
            pass

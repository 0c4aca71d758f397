"""Bad and awkward files on the bank's server, against the sandbox and OpenSSH, on both databases.

Each scenario ends with the reconcile check: what the bank published with a valid sidecar is
stored exactly once, and nothing else is.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import IngestedFile, ReconException
from bankfeeds.transports.sftp.client import SIDECAR_LIMIT, SftpSource
from bankfeeds.transports.sink import DownloadResult
from tests.faults.scenario import (
    NAME,
    axis_csv,
    count,
    make_connector,
    outcomes,
    publish,
    run_once,
    sha,
)
from tests.support.reconcile import assert_reconciled
from tests.support.targets import Target

pytestmark = pytest.mark.faults


async def test_growing_file_waits_then_is_picked_up(ctx: AppContext, target: Target) -> None:
    publish(target, NAME, axis_csv(2000, seed=1))
    cid = await make_connector(ctx, target, stableSeconds=1)
    local = target.local_dir / NAME

    async def keep_writing() -> None:
        for i in range(8):
            await asyncio.sleep(0.2)
            with local.open("ab") as fh:
                fh.write(axis_csv(300, seed=100 + i).split(b"\n", 1)[1])  # rows, no header

    writer = asyncio.create_task(keep_writing())
    first = await run_once(ctx, cid)
    await writer
    assert first["status"] == "PARTIAL" and first["filesDownloaded"] == 0
    assert outcomes(first) == {NAME: "WAITING"}
    assert "still being written" in first["files"][0]["message"]
    await assert_reconciled(ctx, {})

    final = publish(target, NAME, local.read_bytes())  # done: the bank writes the sidecar
    second = await run_once(ctx, cid)
    assert second["status"] == "SUCCESS" and second["filesDownloaded"] == 1
    counts = await assert_reconciled(ctx, {NAME: final})
    assert (counts.data_objects, counts.stored_rows) == (1, 1)


async def test_file_shorter_than_its_sidecar_is_quarantined_until_complete(
    ctx: AppContext, target: Target
) -> None:
    whole = axis_csv(300_000, seed=2)
    publish(target, NAME, whole)
    target.put(NAME, whole[: len(whole) // 2])  # the upload is cut short; the sidecar is not
    cid = await make_connector(ctx, target)
    cut = await run_once(ctx, cid)
    assert cut["status"] == "FAILED" and cut["filesQuarantined"] == 1
    assert "sidecar says" in cut["files"][0]["message"]
    assert await count(ctx, ReconException, ReconException.kind == "CHECKSUM_MISMATCH") == 1
    counts = await assert_reconciled(ctx, {})  # the short bytes are not stored as data
    assert (counts.quarantined_rows, counts.quarantine_objects, counts.data_objects) == (1, 1, 0)

    target.put(NAME, whole)  # the bank finishes the upload
    done = await run_once(ctx, cid)
    assert done["status"] == "SUCCESS" and done["filesDownloaded"] == 1
    counts = await assert_reconciled(ctx, {NAME: sha(whole)})
    assert (counts.stored_rows, counts.quarantined_rows) == (1, 1)


async def test_missing_sidecar_waits_for_it(ctx: AppContext, target: Target) -> None:
    data = axis_csv(5000, seed=3)
    target.put(NAME, data)
    cid = await make_connector(ctx, target)
    run = await run_once(ctx, cid)
    assert run["status"] == "PARTIAL" and run["filesDownloaded"] == 0
    assert outcomes(run) == {NAME: "WAITING"}
    assert f"{NAME}.sha256 is not there yet" in run["files"][0]["message"]
    assert run["bytesDownloaded"] == 0
    await assert_reconciled(ctx, {})

    publish(target, NAME, data)
    assert (await run_once(ctx, cid))["filesDownloaded"] == 1
    await assert_reconciled(ctx, {NAME: sha(data)})


def _sidecars(data: bytes) -> dict[str, tuple[bytes, str]]:
    good = sha(data)
    return {
        "wrong hash": (b"0" * 64 + b"  " + NAME.encode() + b"\n", "sidecar says 000000000000"),
        "not hex": (b"not-a-hash\n", "expected 64 hexadecimal characters"),
        "names another file": (f"{good}  OTHER.csv\n".encode(), "gives the checksum of OTHER.csv"),
        "empty": (b"", "it is empty"),
        "not text": (b"\xff\xfe\x00garbage", "not a SHA-256 checksum file"),
        "two hashes": (f"{good}  {NAME}\n{'1' * 64}  {NAME}\n".encode(), "several different"),
    }


@pytest.mark.parametrize(
    "kind", ["wrong hash", "not hex", "names another file", "empty", "not text", "two hashes"]
)
async def test_bad_sidecar_quarantines_then_a_fixed_one_promotes(
    ctx: AppContext, target: Target, kind: str
) -> None:
    data = axis_csv(4000, seed=4)
    other = axis_csv(4000, seed=5)
    sidecar, message = _sidecars(data)[kind]
    publish(target, NAME, data, sidecar=sidecar)
    fine = publish(target, "AXIS_RECON_20250110_ok.csv", other)
    cid = await make_connector(ctx, target)
    run = await run_once(ctx, cid)
    assert run["status"] == "PARTIAL", run
    assert outcomes(run) == {NAME: "QUARANTINED", "AXIS_RECON_20250110_ok.csv": "DOWNLOADED"}
    bad = next(f for f in run["files"] if f["name"] == NAME)
    assert message in bad["message"] and bad["message"].endswith(".")
    assert await count(ctx, ReconException, ReconException.kind == "CHECKSUM_MISMATCH") == 1
    counts = await assert_reconciled(ctx, {"AXIS_RECON_20250110_ok.csv": fine})
    assert (counts.data_objects, counts.quarantined_rows) == (1, 1)

    publish(target, NAME, data)  # the bank uploads the right sidecar
    fixed = await run_once(ctx, cid)
    assert fixed["status"] == "SUCCESS" and outcomes(fixed)[NAME] == "DOWNLOADED"
    counts = await assert_reconciled(ctx, {NAME: sha(data), "AXIS_RECON_20250110_ok.csv": fine})
    assert (counts.data_objects, counts.quarantined_rows) == (2, 0)


async def test_same_bytes_new_name_is_one_object(ctx: AppContext, target: Target) -> None:
    data = axis_csv(6000, seed=6)
    publish(target, NAME, data)
    cid = await make_connector(ctx, target)
    await run_once(ctx, cid)
    publish(target, "AXIS_RECON_20250110_copy.csv", data)
    dup = await run_once(ctx, cid)
    assert dup["status"] == "SUCCESS"
    assert outcomes(dup) == {NAME: "SKIPPED", "AXIS_RECON_20250110_copy.csv": "SKIPPED"}
    copy = next(f for f in dup["files"] if f["name"] == "AXIS_RECON_20250110_copy.csv")
    assert "same bytes as file_" in copy["message"]
    counts = await assert_reconciled(
        ctx, {NAME: sha(data), "AXIS_RECON_20250110_copy.csv": sha(data)}
    )
    assert (counts.data_objects, counts.stored_rows) == (1, 1)


async def test_new_bytes_under_an_old_name_is_a_version(ctx: AppContext, target: Target) -> None:
    # Sizes differ: a listing tells a new version by (size, mtime), and mtime has 1 s resolution.
    v1, v2 = axis_csv(6000, seed=7), axis_csv(7000, seed=8)
    publish(target, NAME, v1)
    cid = await make_connector(ctx, target)
    await run_once(ctx, cid)
    publish(target, NAME, v2)  # the bank corrects the day's file in place
    run = await run_once(ctx, cid)
    assert outcomes(run) == {NAME: "NEW_VERSION"}
    assert [(f["version"], f["sha256"]) for f in run["ingestedFiles"]] == [(2, sha(v2))]
    counts = await assert_reconciled(ctx, {f"{NAME} v1": sha(v1), f"{NAME} v2": sha(v2)})
    assert (counts.data_objects, counts.stored_rows) == (2, 2)
    async with ctx.sessions() as session:
        rows = (await session.execute(select(IngestedFile.version, IngestedFile.sha256))).all()
    assert sorted(tuple(r) for r in rows) == [(1, sha(v1)), (2, sha(v2))]


async def test_late_file_with_an_older_mtime_is_still_picked_up(
    ctx: AppContext, target: Target
) -> None:
    early = axis_csv(5000, seed=9)
    publish(target, NAME, early)
    cid = await make_connector(ctx, target)
    assert (await run_once(ctx, cid))["filesDownloaded"] == 1

    late = axis_csv(5000, seed=10)
    late_name = "AXIS_RECON_20250110_late.csv"
    publish(target, late_name, late)
    day_ago = time.time() - 86_400  # copied in with its original, older timestamp
    for name in (late_name, late_name + ".sha256"):
        os.utime(target.local_dir / name, (day_ago, day_ago))
    run = await run_once(ctx, cid)
    assert outcomes(run) == {NAME: "SKIPPED", late_name: "DOWNLOADED"}
    counts = await assert_reconciled(ctx, {NAME: sha(early), late_name: sha(late)})
    assert (counts.data_objects, counts.stored_rows) == (2, 2)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every remote file the pipeline opens, as ("download" or "sidecar", name), in order."""
    calls: list[tuple[str, str]] = []
    download, read_small = SftpSource.download, SftpSource.read_small

    async def counted_download(
        self: SftpSource,
        remote_path: str,
        dest: Path,
        on_progress: Callable[[int], None] | None = None,
        *,
        hashing: bool = True,
    ) -> DownloadResult:
        calls.append(("download", remote_path.rsplit("/", 1)[-1]))
        return await download(self, remote_path, dest, on_progress, hashing=hashing)

    async def counted_read(self: SftpSource, path: str, limit: int = SIDECAR_LIMIT) -> bytes:
        calls.append(("sidecar", path.rsplit("/", 1)[-1]))
        return await read_small(self, path, limit)

    monkeypatch.setattr(SftpSource, "download", counted_download)
    monkeypatch.setattr(SftpSource, "read_small", counted_read)
    return calls


def _keep_mtime(target: Target, name: str, stamp: float) -> None:
    os.utime(target.local_dir / name, (stamp, stamp))


async def test_same_size_correction_with_a_preserved_mtime_is_a_version(
    ctx: AppContext, target: Target, opened: list[tuple[str, str]]
) -> None:
    v1 = axis_csv(6000, seed=13)
    v2 = v1.replace(b",SUCCESS,", b",FAILED!,", 1)  # one status corrected, same length
    assert len(v1) == len(v2) and v1 != v2
    publish(target, NAME, v1)
    cid = await make_connector(ctx, target)
    await run_once(ctx, cid)
    stamp = (target.local_dir / NAME).stat().st_mtime
    publish(target, NAME, v2)  # e.g. `sftp put -p` / `rsync -t`: the bank keeps the file's mtime
    _keep_mtime(target, NAME, stamp)
    # Its checksum is written again, at the correction's time (set here: mtimes have 1 s
    # resolution over SFTP, and this test is quicker than that).
    _keep_mtime(target, NAME + ".sha256", stamp + 60)
    opened.clear()
    run = await run_once(ctx, cid)
    assert outcomes(run) == {NAME: "NEW_VERSION"}
    sidecar = NAME + ".sha256"
    assert opened[0] == ("sidecar", sidecar)  # read because it lists differently, then fetched
    assert sorted(opened[1:]) == [("download", NAME), ("sidecar", sidecar)]
    await assert_reconciled(ctx, {f"{NAME} v1": sha(v1), f"{NAME} v2": sha(v2)})

    opened.clear()  # the correction is remembered as it lists now: the next run opens nothing
    again = await run_once(ctx, cid)
    assert outcomes(again) == {NAME: "SKIPPED"} and opened == []


async def test_rerun_over_unchanged_files_opens_none_of_them(
    ctx: AppContext, target: Target, opened: list[tuple[str, str]]
) -> None:
    names = [f"AXIS_RECON_20250110_{i}.csv" for i in range(3)]
    for i, name in enumerate(names):
        publish(target, name, axis_csv(3000, seed=20 + i))
    cid = await make_connector(ctx, target)
    first = await run_once(ctx, cid)
    assert first["filesDownloaded"] == 3
    assert sorted(n for kind, n in opened if kind == "download") == names

    opened.clear()
    again = await run_once(ctx, cid)
    assert again["status"] == "SUCCESS", again
    assert outcomes(again) == dict.fromkeys(names, "SKIPPED")
    assert (again["filesDownloaded"], again["bytesDownloaded"]) == (0, 0)
    assert opened == []  # neither a file nor a sidecar: the listing alone decides


async def test_rewritten_sidecar_with_the_same_digest_is_read_once_not_fetched(
    ctx: AppContext, target: Target, opened: list[tuple[str, str]]
) -> None:
    data = axis_csv(4000, seed=14)
    digest = publish(target, NAME, data)
    cid = await make_connector(ctx, target)
    await run_once(ctx, cid)
    later = (target.local_dir / NAME).stat().st_mtime + 60
    publish(target, NAME, data)  # the bank re-sends the day as it was, file mtime kept
    _keep_mtime(target, NAME, later - 60)
    _keep_mtime(target, NAME + ".sha256", later)

    opened.clear()
    run = await run_once(ctx, cid)
    assert outcomes(run) == {NAME: "SKIPPED"}
    assert "same SHA-256" in run["files"][0]["message"]
    assert opened == [("sidecar", NAME + ".sha256")]
    opened.clear()
    assert outcomes(await run_once(ctx, cid)) == {NAME: "SKIPPED"}
    assert opened == []  # the new sidecar is remembered
    await assert_reconciled(ctx, {NAME: digest})


async def test_correction_with_both_mtimes_preserved_is_fetched_by_a_forced_run(
    ctx: AppContext, target: Target, opened: list[tuple[str, str]]
) -> None:
    # The known limit: stamped with the old mtimes, file and sidecar list exactly as before.
    v1 = axis_csv(5000, seed=15)
    v2 = v1.replace(b",SUCCESS,", b",FAILED!,", 1)
    publish(target, NAME, v1)
    cid = await make_connector(ctx, target)
    await run_once(ctx, cid)
    stamps = {n: (target.local_dir / n).stat().st_mtime for n in (NAME, NAME + ".sha256")}
    publish(target, NAME, v2)
    for name, stamp in stamps.items():
        _keep_mtime(target, name, stamp)
    assert outcomes(await run_once(ctx, cid)) == {NAME: "SKIPPED"}

    forced = await run_once(ctx, cid, force=True)
    assert outcomes(forced) == {NAME: "NEW_VERSION"}
    await assert_reconciled(ctx, {f"{NAME} v1": sha(v1), f"{NAME} v2": sha(v2)})
    opened.clear()
    assert outcomes(await run_once(ctx, cid)) == {NAME: "SKIPPED"} and opened == []

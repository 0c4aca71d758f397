"""The ingestion pipeline end to end, against the sandbox and OpenSSH, on SQLite and PostgreSQL.

Bad sidecars, growing, duplicate, versioned and late files and broken links are in tests/faults.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import func, select
from tests.support.pipeline import axis_file, make_connector, publish, run_once, staging_left
from tests.support.targets import Target

from bankfeeds.access import audit
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import IngestedFile


async def count(ctx: AppContext, model: Any, *where: Any) -> int:
    """Rows of ``model`` matching ``where``."""
    async with ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_ingests_verifies_stores_and_pins(ctx: AppContext, target: Target) -> None:
    a = publish(target, "AXIS_RECON_20250110.csv", axis_file(seed=1))
    b = publish(target, "AXIS_RECON_20250110_2.csv", axis_file(seed=2))
    publish(target, "AXIS_RECON_20250109.csv", b"other day\n")
    cid = await make_connector(ctx, target)

    run = await run_once(ctx, cid)
    assert run["status"] == "SUCCESS", run
    assert (run["filesDiscovered"], run["filesDownloaded"], run["filesSkipped"]) == (2, 2, 0)
    assert run["bytesDownloaded"] == len(axis_file(seed=1)) + len(axis_file(seed=2))
    assert [f["status"] for f in run["files"]] == ["NORMALIZED", "NORMALIZED"]
    assert {f["sha256"] for f in run["ingestedFiles"]} == {a, b}
    for sha in (a, b):
        key = f"sha256/{sha[:2]}/{sha[2:4]}/{sha}"
        assert hashlib.sha256(await ctx.store.read_bytes(key)).hexdigest() == sha
    assert staging_left(ctx) == []
    entries = (await audit.list_entries(ctx=ctx, target_id=cid, cursor=None, limit=10))["entries"]
    pin = next(e for e in entries if e["action"] == "connector.pin-host-key")
    assert pin["diff"]["hostKeyFingerprint"]["to"] == target.fingerprint


async def test_second_run_downloads_zero_bytes_and_force_stores_once(
    ctx: AppContext, target: Target
) -> None:
    data = axis_file(40)
    publish(target, "AXIS_RECON_20250110.csv", data)
    cid = await make_connector(ctx, target)
    assert (await run_once(ctx, cid))["filesDownloaded"] == 1

    again = await run_once(ctx, cid)
    assert again["status"] == "SUCCESS"
    assert (again["filesDownloaded"], again["filesSkipped"], again["bytesDownloaded"]) == (0, 1, 0)
    assert [f["outcome"] for f in again["files"]] == ["SKIPPED"]

    forced = await run_once(ctx, cid, force=True)
    assert forced["bytesDownloaded"] == len(data)
    assert forced["filesSkipped"] == 1 and forced["filesDownloaded"] == 0
    async with ctx.sessions() as session:
        (row,) = (await session.scalars(select(IngestedFile))).all()
    # The file's bytes and its normalised rows, each stored once.
    assert sorted(await ctx.store.list_keys("sha256/")) == sorted(
        [row.object_key, row.normalized_key]
    )


async def test_wrong_password_fails_with_a_sentence(ctx: AppContext, target: Target) -> None:
    publish(target, "AXIS_RECON_20250110.csv", b"x\n")
    cid = await make_connector(ctx, target, password="wrong")
    run = await run_once(ctx, cid)
    assert run["status"] == "FAILED"
    assert run["errorCode"] == "authentication-failed"
    assert run["error"].endswith(".")
    assert await count(ctx, IngestedFile) == 0


async def test_changed_host_key_writes_nothing(ctx: AppContext, target: Target) -> None:
    publish(target, "AXIS_RECON_20250110.csv", b"x\n")
    cid = await make_connector(ctx, target, hostKeyFingerprint="SHA256:" + "Q" * 43)
    run = await run_once(ctx, cid)
    assert run["status"] == "FAILED" and run["errorCode"] == "host-key-mismatch"
    assert target.fingerprint in run["error"]
    assert run["bytesDownloaded"] == 0
    assert await ctx.store.list_keys() == []
    assert staging_left(ctx) == []


async def test_unreachable_host(ctx: AppContext, target: Target) -> None:
    from tests.support.sshd import free_port

    cid = await make_connector(ctx, target, port=free_port())
    run = await run_once(ctx, cid)
    assert run["status"] == "FAILED" and run["errorCode"] == "source-unreachable"


async def test_a_thousand_files(ctx: AppContext, target: Target) -> None:
    for i in range(1000):
        publish(target, f"AXIS_RECON_20250110_{i:04d}.csv", axis_file(seed=i))
    cid = await make_connector(ctx, target)
    run = await run_once(ctx, cid)
    assert run["status"] == "SUCCESS"
    assert run["filesDownloaded"] == 1000
    again = await run_once(ctx, cid)
    assert (again["filesSkipped"], again["bytesDownloaded"]) == (1000, 0)

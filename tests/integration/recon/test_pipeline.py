"""Ingest to reconciliation end to end: sandbox and sshd, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
from datetime import timedelta

import pytest
from sqlalchemy import select
from tests.support.pipeline import PLANTED
from tests.support.targets import Target

from bankfeeds.recon import jobs as recon
from bankfeeds.recon import run as recon_run
from bankfeeds.sandbox.generate import generate_day
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import IngestedFile, ReconException

from .helpers import DAY, jobs, make_connector, run_once, work_jobs


def _counts(summary: dict[str, object] | None) -> dict[str, int]:
    outcomes = (summary or {})["outcomes"]
    assert isinstance(outcomes, dict)
    return {k: v["count"] for k, v in outcomes.items() if v["count"]}


@pytest.mark.parametrize("order", [("AXIS", "PG"), ("PG", "AXIS")])
async def test_both_sides_make_one_job_in_either_order(
    ctx: AppContext, target: Target, order: tuple[str, str]
) -> None:
    generate_day(target.local_dir, DAY, providers=("AXIS",), rows=50)
    ids = {p: await make_connector(ctx, target, p) for p in order}
    await run_once(ctx, ids[order[0]])
    assert await jobs(ctx) == []
    await run_once(ctx, ids[order[1]])
    await run_once(ctx, ids[order[0]])  # nothing new: no second job
    (job,) = await jobs(ctx)
    assert job.status == "PENDING"
    assert await recon.ensure_jobs(ctx, provider="AXIS", cycle_date=DAY) == [job.id]

    assert await work_jobs(ctx) == [job.id]
    (job,) = await jobs(ctx)
    assert job.status == "COMPLETED", job.error_message
    assert _counts(job.summary) == PLANTED
    async with ctx.sessions() as session:
        exceptions = (
            await session.scalars(select(ReconException).where(ReconException.job_id == job.id))
        ).all()
        files = (await session.scalars(select(IngestedFile))).all()
    assert sorted(e.kind for e in exceptions) == sorted(
        k for k, n in PLANTED.items() if not k.startswith("MATCHED") for _ in range(n)
    )
    assert {f.status for f in files} == {"MATCHED"}
    assert all(f.row_count == 50 and f.normalized_key for f in files)
    off = next(e for e in exceptions if e.kind == "AMOUNT_MISMATCH")
    assert off.data is not None and off.data["amountDeltaPaise"] > 100
    assert off.data["pgLine"] > 1 and off.data["bankLine"] > 1 and off.run_id is not None
    assert off.severity == "HIGH" and off.cycle_date == DAY and off.provider == "AXIS"


async def test_new_version_supersedes_the_old_job(ctx: AppContext, target: Target) -> None:
    (axis, _pg) = generate_day(target.local_dir, DAY, providers=("AXIS",), rows=50)
    ids = {p: await make_connector(ctx, target, p) for p in ("AXIS", "PG")}
    for cid in ids.values():
        await run_once(ctx, cid)
    await work_jobs(ctx)
    lines = axis.read_text().splitlines(keepends=True)
    target.put(axis.name, "".join(lines[:-1]).encode())  # the bank drops its last row
    digest = hashlib.sha256((target.local_dir / axis.name).read_bytes()).hexdigest()
    target.put(axis.name + ".sha256", f"{digest}  {axis.name}\n".encode())
    await run_once(ctx, ids["AXIS"])
    old, new = await jobs(ctx)
    assert old.superseded_by_id == new.id and new.superseded_by_id is None
    assert new.bank_file_id != old.bank_file_id and new.pg_file_id == old.pg_file_id
    await work_jobs(ctx)
    (_, new) = await jobs(ctx)
    assert new.status == "COMPLETED"
    assert new.summary is not None and old.summary is not None
    assert (old.summary["bankRows"], new.summary["bankRows"]) == (50, 49)


async def test_a_pending_job_superseded_before_it_ran_is_marked_superseded(
    ctx: AppContext, target: Target
) -> None:
    (axis, _pg) = generate_day(target.local_dir, DAY, providers=("AXIS",), rows=50)
    ids = {p: await make_connector(ctx, target, p) for p in ("AXIS", "PG")}
    for cid in ids.values():
        await run_once(ctx, cid)
    (pending,) = await jobs(ctx)
    assert pending.status == "PENDING"
    lines = axis.read_text().splitlines(keepends=True)
    target.put(axis.name, "".join(lines[:-1]).encode())  # restated before any worker ran
    digest = hashlib.sha256((target.local_dir / axis.name).read_bytes()).hexdigest()
    target.put(axis.name + ".sha256", f"{digest}  {axis.name}\n".encode())
    await run_once(ctx, ids["AXIS"])
    old, new = await jobs(ctx)
    assert (old.status, old.superseded_by_id) == ("SUPERSEDED", new.id)
    assert new.status == "PENDING"
    assert await work_jobs(ctx) == [new.id]
    old, new = await jobs(ctx)
    assert (old.status, new.status) == ("SUPERSEDED", "COMPLETED")


async def test_a_superseded_job_whose_worker_died_ends_superseded(
    ctx: AppContext, target: Target
) -> None:
    (axis, _pg) = generate_day(target.local_dir, DAY, providers=("AXIS",), rows=20)
    ids = {p: await make_connector(ctx, target, p) for p in ("AXIS", "PG")}
    for cid in ids.values():
        await run_once(ctx, cid)
    (job,) = await jobs(ctx)
    assert await recon.claim_jobs(ctx, limit=5) == [job.id]  # ...and the worker dies here
    lines = axis.read_text().splitlines(keepends=True)
    target.put(axis.name, "".join(lines[:-1]).encode())
    digest = hashlib.sha256((target.local_dir / axis.name).read_bytes()).hexdigest()
    target.put(axis.name + ".sha256", f"{digest}  {axis.name}\n".encode())
    await run_once(ctx, ids["AXIS"])
    old, new = await jobs(ctx)
    assert (old.status, old.superseded_by_id) == ("RUNNING", new.id)  # its worker may yet finish
    later = ctx.clock() + recon.RECLAIM_AFTER + timedelta(seconds=1)
    ctx.clock = lambda: later
    assert await recon.claim_jobs(ctx, limit=5) == [new.id]
    old, new = await jobs(ctx)
    assert (old.status, old.finished_at is not None) == ("SUPERSEDED", True)


async def test_a_superseded_job_handed_back_on_shutdown_ends_superseded(
    ctx: AppContext, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    (axis, _pg) = generate_day(target.local_dir, DAY, providers=("AXIS",), rows=20)
    ids = {p: await make_connector(ctx, target, p) for p in ("AXIS", "PG")}
    for cid in ids.values():
        await run_once(ctx, cid)
    (job,) = await jobs(ctx)
    assert await recon.claim_jobs(ctx, limit=5) == [job.id]
    lines = axis.read_text().splitlines(keepends=True)
    target.put(axis.name, "".join(lines[:-1]).encode())
    digest = hashlib.sha256((target.local_dir / axis.name).read_bytes()).hexdigest()
    target.put(axis.name + ".sha256", f"{digest}  {axis.name}\n".encode())
    await run_once(ctx, ids["AXIS"])

    async def shutdown(*_: object) -> str:
        raise asyncio.CancelledError

    monkeypatch.setattr(recon_run, "store_parquet", shutdown)
    with pytest.raises(asyncio.CancelledError):
        await recon_run.run_job(ctx, job.id)
    old, new = await jobs(ctx)
    assert (old.status, old.superseded_by_id, new.status) == ("SUPERSEDED", new.id, "PENDING")


def _corrupt(data: bytes, lines: set[int]) -> bytes:
    """The AXIS file with its amount (CREDIT_AMT) made unreadable on the given 1-based lines."""
    rows = list(csv.reader(io.StringIO(data.decode())))
    column = rows[0].index("CREDIT_AMT")
    for line in lines:
        rows[line - 1][column] = "12,3x.00"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


async def test_bad_rows_become_parse_errors_and_too_many_quarantine(
    ctx: AppContext, target: Target
) -> None:
    (axis, _) = generate_day(target.local_dir, DAY, providers=("AXIS",), rows=50)
    data = axis.read_bytes()
    (target.local_dir / _).unlink()
    few = _corrupt(data, {3, 7})
    many = _corrupt(data, set(range(2, 30)))
    for name, body in (("AXIS_RECON_20250110.csv", few), ("AXIS_RECON_20250110_b.csv", many)):
        target.put(name, body)
        target.put(name + ".sha256", f"{hashlib.sha256(body).hexdigest()}  {name}\n".encode())
    cid = await make_connector(ctx, target, "AXIS")
    run = await run_once(ctx, cid)
    assert (run["status"], run["filesDownloaded"], run["filesQuarantined"]) == ("PARTIAL", 1, 1)
    async with ctx.sessions() as session:
        files = {f.remote_name: f for f in (await session.scalars(select(IngestedFile))).all()}
        errors = (
            await session.scalars(
                select(ReconException).where(ReconException.kind == "PARSE_ERROR")
            )
        ).all()
    ok, bad = files["AXIS_RECON_20250110.csv"], files["AXIS_RECON_20250110_b.csv"]
    assert (ok.status, ok.row_count) == ("NORMALIZED", 48)
    assert ok.summary is not None and ok.summary["badRows"] == 2
    assert bad.status == "QUARANTINED" and bad.normalized_key is None
    assert bad.error_message is not None and "above the 5.0% limit" in bad.error_message
    assert sorted(e.source_row or 0 for e in errors if e.file_id == ok.id) == [3, 7]
    assert any("invalid amount '12,3x.00'" in e.message for e in errors if e.file_id == ok.id)
    assert sum(e.file_id == bad.id for e in errors) == 28 + 1


async def test_a_job_whose_worker_died_is_claimed_again(ctx: AppContext, target: Target) -> None:
    generate_day(target.local_dir, DAY, providers=("AXIS",), rows=20)
    for provider in ("AXIS", "PG"):
        await run_once(ctx, await make_connector(ctx, target, provider))
    (job,) = await jobs(ctx)
    assert await recon.claim_jobs(ctx, limit=5) == [job.id]  # ...and the worker dies here
    assert await recon.claim_jobs(ctx, limit=5) == []
    later = ctx.clock() + recon.RECLAIM_AFTER + timedelta(seconds=1)
    ctx.clock = lambda: later
    assert await recon.claim_jobs(ctx, limit=5) == [job.id]
    await recon_run.run_job(ctx, job.id)
    (job,) = await jobs(ctx)
    assert job.status == "COMPLETED"

    # A job that fails ends FAILED with a reason, never RUNNING.
    async with ctx.sessions() as session:
        pg = await session.get(IngestedFile, job.pg_file_id)
    assert pg is not None and pg.normalized_key
    await ctx.store.delete(pg.normalized_key)
    await recon.rerun(ctx=ctx, provider="AXIS", cycle_date=DAY, actor="test")
    await work_jobs(ctx)
    (job,) = await jobs(ctx)
    assert job.status == "FAILED" and job.error_message

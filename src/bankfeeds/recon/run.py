"""Running one claimed recon job: match both Parquets, store the results, open the exceptions.

Everything a job writes to the database (its exceptions, its summary, COMPLETED, the files'
MATCHED) commits in one transaction, so a job that dies half-way leaves nothing behind and is
simply claimed again. Exceptions the job opened on an earlier run are replaced, except those an
operator already resolved.
"""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any, cast

import polars as pl
from sqlalchemy import Table, case, delete, insert, select, update

from bankfeeds.connectors.bank_names import bank_directory
from bankfeeds.connectors.banks import BankDirectory, rows_for_provider
from bankfeeds.core.ids import public_id
from bankfeeds.desk.exceptions import resolve_by_system
from bankfeeds.normalise.service import store_parquet
from bankfeeds.recon.jobs import SUPERSEDED, job_files
from bankfeeds.recon.match import ReconResult, reconcile
from bankfeeds.recon.results import exception_rows, job_summary
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import IngestedFile, ReconException, ReconJob

log = logging.getLogger(__name__)
#: Exception rows per INSERT statement.
INSERT_CHUNK = 5000


async def run_job(ctx: AppContext, job_pk: int) -> None:
    """Run a job this worker claimed to COMPLETED or FAILED; on shutdown hand it back."""
    try:
        await _run(ctx, job_pk)
    except asyncio.CancelledError:
        await asyncio.shield(_release(ctx, job_pk))
        raise
    except Exception as exc:
        log.exception("recon job failed", extra={"job_id": job_pk})
        await _fail(ctx, job_pk, f"The job stopped with an unexpected error: {exc}"[:500])


def _match(
    provider: str, banks: BankDirectory, pg_parts: list[bytes], bank_parts: list[bytes]
) -> ReconResult:
    """Read both sides' canonical rows (every file of the day) and reconcile them."""
    pg = rows_for_provider(_read(pg_parts), banks, provider)
    return reconcile(pg, _read(bank_parts))


def _read(parts: list[bytes]) -> pl.DataFrame:
    """One frame of the canonical rows of several files (each keeps its source file id)."""
    frames = [pl.read_parquet(io.BytesIO(b)) for b in parts]
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical_relaxed")


async def _run(ctx: AppContext, job_pk: int) -> None:
    async with ctx.sessions() as session:
        job = await session.get(ReconJob, job_pk)
        assert job is not None
        inputs = await job_files(session, job_pk)
        banks = await bank_directory(session)
    files = {f.id: f for side in inputs.values() for f in side}
    if not inputs["BANK"] or not inputs["PG"]:
        await _fail(ctx, job_pk, "The job has no input files on one side.")
        return
    if any(not f.normalized_key for f in files.values()):
        await _fail(ctx, job_pk, "An input file has no normalised rows.")
        return
    pg_parts = [await ctx.store.read_bytes(str(f.normalized_key)) for f in inputs["PG"]]
    bank_parts = [await ctx.store.read_bytes(str(f.normalized_key)) for f in inputs["BANK"]]
    result = await asyncio.to_thread(_match, job.provider, banks, pg_parts, bank_parts)
    del pg_parts, bank_parts
    key = await store_parquet(ctx, result.outcomes)
    newest_bank, newest_pg = inputs["BANK"][-1], inputs["PG"][-1]
    rows = await asyncio.to_thread(
        lambda: exception_rows(result, job, newest_bank, newest_pg, ctx.clock(), files=files)
    )
    await _complete(ctx, job, rows, job_summary(result, key), list(files))


async def _complete(
    ctx: AppContext,
    job: ReconJob,
    rows: list[dict[str, Any]],
    summary: dict[str, Any],
    file_pks: list[int],
) -> None:
    """Replace the day's open exceptions, record the summary and mark the job and files done.

    The day's earlier jobs are superseded by this one: their open exceptions were about a day
    seen in part (one file of two, a version since restated) and close as replaced. A row an
    operator resolved on any job of the day stays resolved when the same line of the same file
    ends the same way again.
    """
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        done = await session.execute(
            update(ReconJob)
            .where(ReconJob.id == job.id, ReconJob.status == "RUNNING")
            .values(status="COMPLETED", summary=summary, finished_at=now, error_message=None)
        )
        if not done.rowcount:  # type: ignore[attr-defined]
            return  # re-queued meanwhile (another worker owns it now)
        if await session.scalar(select(ReconJob.superseded_by_id).where(ReconJob.id == job.id)):
            return  # a newer job of the day came while this one ran: its exceptions count
        await session.execute(
            delete(ReconException).where(
                ReconException.job_id == job.id, ReconException.state == "OPEN"
            )
        )
        day = select(ReconJob.id).where(
            ReconJob.provider == job.provider, ReconJob.cycle_date == job.cycle_date
        )
        await resolve_by_system(
            session,
            ReconException.job_id.in_(day.where(ReconJob.superseded_by_id.is_not(None))),
            now=now,
            note=f"Replaced: {public_id('job', job.id)} reconciled the whole day again.",
        )
        resolved = {
            _key(kind, data)
            for kind, data in await session.execute(
                select(ReconException.kind, ReconException.data).where(
                    ReconException.job_id.in_(day), ReconException.state == "RESOLVED"
                )
            )
            if ((data or {}).get("resolution") or {}).get("by") != "system"
        }
        fresh = [r for r in rows if _key(r["kind"], r["data"]) not in resolved]
        # Core executemany on the table, in chunks: the ORM's bulk insert spent ~40 % more on
        # 20,000 rows, and one statement per chunk bounds the driver's memory for big jobs.
        for start in range(0, len(fresh), INSERT_CHUNK):
            await session.execute(
                insert(cast(Table, ReconException.__table__)), fresh[start : start + INSERT_CHUNK]
            )
        await session.execute(
            update(IngestedFile)
            .where(IngestedFile.id.in_(file_pks))
            .where(IngestedFile.status == "NORMALIZED")
            .values(status="MATCHED", updated_at=now)
        )


def _key(kind: str, data: dict[str, Any] | None) -> tuple[Any, ...]:
    """Which line of which file an outcome exception is about, and how it ended."""
    d = data or {}
    return kind, d.get("pgFileId"), d.get("pgLine"), d.get("bankFileId"), d.get("bankLine")


async def _fail(ctx: AppContext, job_pk: int, message: str) -> None:
    async with ctx.sessions.begin() as session:
        await session.execute(
            update(ReconJob)
            .where(ReconJob.id == job_pk, ReconJob.status == "RUNNING")
            .values(status="FAILED", finished_at=ctx.clock(), error_message=message)
        )


async def _release(ctx: AppContext, job_pk: int) -> None:
    """Shutting down mid-job: back to PENDING for the next worker (SUPERSEDED if replaced)."""
    replaced = ReconJob.superseded_by_id.is_not(None)
    async with ctx.sessions.begin() as session:
        await session.execute(
            update(ReconJob)
            .where(ReconJob.id == job_pk, ReconJob.status == "RUNNING")
            .values(
                # No worker claims a superseded job, so PENDING would be for ever.
                status=case((replaced, SUPERSEDED), else_="PENDING"),
                started_at=None,
                finished_at=case((replaced, ctx.clock()), else_=None),
            )
        )

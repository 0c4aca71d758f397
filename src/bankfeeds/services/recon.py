"""Recon jobs: created when both sides of a provider's day are normalised, claimed by workers.

The unique constraint on (provider, cycle date, bank file, PG file) decides whether a job exists,
so a bank file and a PG file arriving in either order, or at once, give exactly one job. A newer
version of either file gives a new job that supersedes the old one. Workers claim PENDING jobs
with ``SKIP LOCKED`` on PostgreSQL (a conditional update on SQLite); a job whose worker died stays
RUNNING only until ``RECLAIM_AFTER``, then any worker may claim it again.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.adapters.db.models import IngestedFile, ReconJob
from bankfeeds.domain.ids import public_id
from bankfeeds.errors import Conflict
from bankfeeds.services import audit
from bankfeeds.services.context import AppContext

#: File states that can feed a job (MATCHED files may feed a newer job of the other side).
READY = ("NORMALIZED", "MATCHED")
#: A RUNNING job not finished after this long lost its worker and may be claimed again.
RECLAIM_AFTER = timedelta(minutes=10)


async def trigger_for_file(ctx: AppContext, file_pk: int) -> list[int]:
    """Create the jobs a newly NORMALIZED file completes; returns their ids."""
    async with ctx.sessions() as session:
        row = await session.get(IngestedFile, file_pk)
    if row is None:
        return []
    providers = (row.summary or {}).get("banks", []) if row.provider == "PG" else [row.provider]
    made: list[int] = []
    for provider in providers:
        made += await ensure_jobs(ctx, provider=str(provider), cycle_date=row.cycle_date)
    return made


async def ensure_jobs(ctx: AppContext, *, provider: str, cycle_date: date) -> list[int]:
    """Make sure a job exists for each current bank file of the day with the current PG file."""
    async with ctx.sessions.begin() as session:
        banks, pg = await _current_inputs(session, provider, cycle_date)
        if pg is None:
            return []
        return [await _job_for(session, ctx, provider, cycle_date, b, pg) for b in banks]


def _lineage(row: IngestedFile) -> tuple[int, str]:
    """Versions of one file share connector and name."""
    return row.connector_id, row.remote_name


async def _current_inputs(
    session: AsyncSession, provider: str, day: date
) -> tuple[list[IngestedFile], IngestedFile | None]:
    """The newest ready version of each bank file of the day, and the newest PG file covering it."""
    ready = (
        select(IngestedFile)
        .where(IngestedFile.cycle_date == day, IngestedFile.status.in_(READY))
        .order_by(IngestedFile.id.desc())
    )
    banks: dict[tuple[int, str], IngestedFile] = {}
    for row in (await session.scalars(ready.where(IngestedFile.provider == provider))).all():
        banks.setdefault(_lineage(row), row)
    pgs = (await session.scalars(ready.where(IngestedFile.provider == "PG"))).all()
    pg = next((p for p in pgs if provider in (p.summary or {}).get("banks", [])), None)
    if pg is not None:
        # Serialises triggers over the same PG file, so superseding sees every sibling job.
        await session.scalar(
            select(IngestedFile.id).where(IngestedFile.id == pg.id).with_for_update()
        )
    return sorted(banks.values(), key=lambda r: r.id), pg


async def _job_for(
    session: AsyncSession,
    ctx: AppContext,
    provider: str,
    day: date,
    bank: IngestedFile,
    pg: IngestedFile,
) -> int:
    """Insert the job for this pair unless the constraint says it exists; supersede older ones."""
    job = ReconJob(
        provider=provider,
        cycle_date=day,
        bank_file_id=bank.id,
        pg_file_id=pg.id,
        status="PENDING",
        created_at=ctx.clock(),
    )
    try:
        async with session.begin_nested():
            session.add(job)
            await session.flush()
    except IntegrityError:
        existing = await session.scalar(
            select(ReconJob.id).where(
                ReconJob.provider == provider,
                ReconJob.cycle_date == day,
                ReconJob.bank_file_id == bank.id,
                ReconJob.pg_file_id == pg.id,
            )
        )
        assert existing is not None
        return existing
    await _supersede(session, job, bank)
    return job.id


async def _supersede(session: AsyncSession, job: ReconJob, bank: IngestedFile) -> None:
    """Older jobs over earlier versions of the same bank file now point at ``job``."""
    others = (
        await session.scalars(
            select(ReconJob).where(
                ReconJob.provider == job.provider,
                ReconJob.cycle_date == job.cycle_date,
                ReconJob.superseded_by_id.is_(None),
                ReconJob.id != job.id,
            )
        )
    ).all()
    for old in others:
        old_bank = await session.get(IngestedFile, old.bank_file_id)
        if old_bank is None or _lineage(old_bank) != _lineage(bank):
            continue
        if old.bank_file_id <= job.bank_file_id and old.pg_file_id <= job.pg_file_id:
            old.superseded_by_id = job.id
        else:  # a stale trigger: the job just made is the older one
            job.superseded_by_id = old.id
    await session.flush()


async def claim_jobs(ctx: AppContext, *, limit: int) -> list[int]:
    """Claim up to ``limit`` PENDING (or abandoned RUNNING) jobs; returns their ids."""
    now = ctx.clock()
    claimable = and_(
        ReconJob.superseded_by_id.is_(None),
        or_(
            ReconJob.status == "PENDING",
            and_(ReconJob.status == "RUNNING", ReconJob.started_at < now - RECLAIM_AFTER),
        ),
    )
    query = (
        select(ReconJob.id)
        .where(claimable)
        .order_by(ReconJob.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed: list[int] = []
    async with ctx.sessions.begin() as session:
        for pk in (await session.scalars(query)).all():
            result = await session.execute(
                update(ReconJob)
                .where(ReconJob.id == pk, claimable)
                .values(status="RUNNING", started_at=now, finished_at=None, error_message=None)
            )
            if result.rowcount:  # type: ignore[attr-defined]
                claimed.append(pk)
    return claimed


async def rerun(
    *, ctx: AppContext, provider: str, cycle_date: date, actor: str
) -> list[dict[str, Any]]:
    """Queue a provider's day again (a finished job goes back to PENDING); audited."""
    pks = await ensure_jobs(ctx, provider=provider, cycle_date=cycle_date)
    if not pks:
        raise Conflict(
            f"{provider} on {cycle_date} cannot be reconciled yet: it needs a normalised "
            f"{provider} file and a normalised PG file covering {provider} for that date."
        )
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        await session.execute(
            update(ReconJob)
            .where(ReconJob.id.in_(pks), ReconJob.status.in_(("COMPLETED", "FAILED")))
            .values(status="PENDING", started_at=None, finished_at=None, error_message=None)
        )
        for pk in pks:
            audit.record(
                session,
                actor=actor,
                action="recon.rerun",
                target_type="job",
                target_id=public_id("job", pk),
                diff={"provider": provider, "cycleDate": cycle_date.isoformat()},
                now=now,
            )
    from bankfeeds.services.recon_queries import job_views

    return await job_views(ctx, pks)

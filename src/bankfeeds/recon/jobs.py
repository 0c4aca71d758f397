"""Recon jobs: one per provider and day, over every current bank and PG file of that day.

A day's inputs are every current bank file of the provider (several parts, the newest of each
restatement lineage: ``connectors/banks.py``) and every current PG file with rows for that bank (by
its aliases). The unique constraint on (provider, cycle date, inputs key) decides whether a job
exists, so files arriving in any order, or at once, give exactly one job per set of inputs; a new
part or restatement gives a new job that supersedes the older ones of the day. Triggers of one
provider-day are serialised (an advisory lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so
the job made last always saw the most files. Workers claim PENDING jobs with ``SKIP LOCKED`` on
PostgreSQL (a conditional update on SQLite); a job whose worker died stays RUNNING only until
``RECLAIM_AFTER``, then any worker may claim it again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.access import audit
from bankfeeds.connectors.bank_names import bank_directory, unknown_banks
from bankfeeds.connectors.banks import BankDirectory, DayFile, current_files
from bankfeeds.core.errors import Conflict
from bankfeeds.core.ids import public_id
from bankfeeds.days.expectations import counterpart_key
from bankfeeds.desk.exceptions import resolve_by_system
from bankfeeds.recon.views import job_views
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import IngestedFile, ReconException, ReconJob, ReconJobFile

#: File states that can feed a job (MATCHED files may feed a newer job of the day).
READY = ("NORMALIZED", "MATCHED")
#: A RUNNING job not finished after this long lost its worker and may be claimed again.
RECLAIM_AFTER = timedelta(minutes=10)
#: The end of a job a newer one of its day replaced before any worker finished it.
SUPERSEDED = "SUPERSEDED"


@dataclass(frozen=True, slots=True)
class DayInputs:
    """The files a provider's day is reconciled over."""

    bank: list[IngestedFile]
    pg: list[IngestedFile]
    #: The PG bank names that picked the PG rows: an alias added later may pick more.
    names: frozenset[str]

    def key(self) -> str:
        """The inputs key: the sorted ids of each side and the bank names, hashed."""
        return inputs_key([f.id for f in self.bank], [f.id for f in self.pg], self.names)


def inputs_key(bank: Sequence[int], pg: Sequence[int], names: Iterable[str]) -> str:
    """One key per set of inputs: the files of each side and the bank names that chose PG rows."""
    text = (
        "B" + ",".join(map(str, sorted(bank)))
        + ";P" + ",".join(map(str, sorted(pg)))
        + ";N" + "|".join(sorted(names))
    )  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()


async def trigger_for_file(ctx: AppContext, file_pk: int) -> list[int]:
    """Create the jobs a newly NORMALIZED file completes; returns their ids."""
    async with ctx.sessions() as session:
        row = await session.get(IngestedFile, file_pk)
        if row is None:
            return []
        if row.provider == "PG":
            banks = await bank_directory(session)
            wanted = sorted(pg_providers(row, banks))
        else:
            wanted = [row.provider]
        # The other side is usually not there yet (a bank drops its files hours before the PG
        # export): one indexed look saves reading the whole day under a lock for every file.
        other = (
            IngestedFile.provider.in_(wanted) if row.provider == "PG"
            else IngestedFile.provider == "PG"
        )  # fmt: skip
        present = set(
            (
                await session.scalars(
                    select(IngestedFile.provider)
                    .where(IngestedFile.cycle_date == row.cycle_date, other)
                    .where(IngestedFile.status.in_(READY))
                    .distinct()
                )
            ).all()
        )
        providers = [p for p in wanted if p in present] if row.provider == "PG" else wanted
        if not present:
            return []
    made: list[int] = []
    for provider in providers:
        made += await ensure_jobs(ctx, provider=provider, cycle_date=row.cycle_date)
    return made


def pg_providers(row: IngestedFile, banks: BankDirectory) -> set[str]:
    """The providers a PG file has rows for, by the bank names its rows give."""
    return {p for p in (banks.provider_of(n) for n in _bank_names(row)) if p is not None}


def _bank_names(row: IngestedFile) -> list[str]:
    return [str(n) for n in (row.summary or {}).get("banks", [])]


async def ensure_jobs(ctx: AppContext, *, provider: str, cycle_date: date) -> list[int]:
    """Make sure the job over the provider's current day exists; returns it (or nothing)."""
    async with ctx.sessions.begin() as session:
        await _lock_day(session, provider, cycle_date)
        inputs = await day_inputs(session, provider, cycle_date)
        if not inputs.bank or not inputs.pg:
            return []
        return [await _job_for(session, ctx, provider, cycle_date, inputs)]


async def _lock_day(session: AsyncSession, provider: str, day: date) -> None:
    """Serialise triggers of one provider-day (SQLite's BEGIN IMMEDIATE already does)."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"recon:{provider}:{day.isoformat()}".encode()).digest()
    await session.execute(
        select(func.pg_advisory_xact_lock(int.from_bytes(digest[:8], "big", signed=True)))
    )


async def day_inputs(session: AsyncSession, provider: str, day: date) -> DayInputs:
    """The current bank files of the provider's day, and the current PG files with its rows."""
    ready = (
        select(IngestedFile)
        .where(IngestedFile.cycle_date == day, IngestedFile.status.in_(READY))
        .order_by(IngestedFile.id)
    )
    bank_rows = (await session.scalars(ready.where(IngestedFile.provider == provider))).all()
    pg_rows = (await session.scalars(ready.where(IngestedFile.provider == "PG"))).all()
    banks = await bank_directory(session)
    pgs = [p for p in _current(pg_rows) if provider in pg_providers(p, banks)]
    names = {n for p in pgs for n in _bank_names(p) if banks.provider_of(n) == provider}
    return DayInputs(bank=_current(bank_rows), pg=pgs, names=frozenset(names))


def _current(rows: Sequence[IngestedFile]) -> list[IngestedFile]:
    by_pk = {r.id: r for r in rows}
    chosen = current_files(DayFile(r.id, r.connector_id, r.remote_name) for r in rows)
    return [by_pk[f.pk] for f in chosen]


async def _job_for(
    session: AsyncSession, ctx: AppContext, provider: str, day: date, inputs: DayInputs
) -> int:
    """Insert the job over these inputs unless the constraint says it exists; supersede others."""
    job = ReconJob(
        provider=provider,
        cycle_date=day,
        bank_file_id=max(f.id for f in inputs.bank),
        pg_file_id=max(f.id for f in inputs.pg),
        inputs_key=inputs.key(),
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
                ReconJob.inputs_key == job.inputs_key,
            )
        )
        assert existing is not None
        return existing
    session.add_all(
        [ReconJobFile(job_id=job.id, file_id=f.id, side="BANK") for f in inputs.bank]
        + [ReconJobFile(job_id=job.id, file_id=f.id, side="PG") for f in inputs.pg]
    )
    await resolve_by_system(
        session,
        ReconException.dedupe_key == counterpart_key(provider, day),
        now=ctx.clock(),
        note=f"PG rows for {provider} arrived: {public_id('job', job.id)} reconciles the day.",
    )
    # The day is locked, so this job saw every file the older ones saw, and more.
    older = and_(
        ReconJob.provider == provider,
        ReconJob.cycle_date == day,
        ReconJob.superseded_by_id.is_(None),
        ReconJob.id != job.id,
    )
    # One no worker took yet never will (claims skip superseded jobs): it ends here, not PENDING.
    await session.execute(
        update(ReconJob)
        .where(older, ReconJob.status == "PENDING")
        .values(status=SUPERSEDED, finished_at=ctx.clock())
    )
    await session.execute(update(ReconJob).where(older).values(superseded_by_id=job.id))
    await session.flush()
    return job.id


async def job_files(session: AsyncSession, job_pk: int) -> dict[str, list[IngestedFile]]:
    """A job's input files by side (``BANK``, ``PG``), in id order."""
    rows = (
        await session.execute(
            select(ReconJobFile.side, IngestedFile)
            .join(IngestedFile, IngestedFile.id == ReconJobFile.file_id)
            .where(ReconJobFile.job_id == job_pk)
            .order_by(IngestedFile.id)
        )
    ).all()
    out: dict[str, list[IngestedFile]] = {"BANK": [], "PG": []}
    for side, row in rows:
        out[side].append(row)
    return out


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
        # A superseded job whose worker died is never claimed again: end it rather than leave it
        # RUNNING for ever.
        await session.execute(
            update(ReconJob)
            .where(
                ReconJob.superseded_by_id.is_not(None),
                ReconJob.status == "RUNNING",
                ReconJob.started_at < now - RECLAIM_AFTER,
            )
            .values(status=SUPERSEDED, finished_at=now)
        )
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
        async with ctx.sessions() as session:
            inputs = await day_inputs(session, provider, cycle_date)
        lacking = (
            f"a normalised {provider} file"
            if not inputs.bank
            else f"a normalised PG file with rows for {provider} (by its bank aliases)"
        )
        raise Conflict(f"{provider} on {cycle_date} cannot be reconciled yet: it needs {lacking}.")
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
    return await job_views(ctx, pks)


#: How far back a change of bank identity looks for days to reconcile again.
IDENTITY_HORIZON = timedelta(days=62)


async def identity_changed(ctx: AppContext, providers: Iterable[str]) -> list[int]:
    """A bank connector came, went or changed its aliases: reconcile what that changes.

    Days of those providers whose PG rows the new aliases pick differently get a new job (the
    inputs key holds the bank names that picked the rows, so an unchanged day keeps its job), and
    UNKNOWN_BANK exceptions whose every name now has a connector close. Returns the new jobs.
    """
    since = ctx.clock().date() - IDENTITY_HORIZON
    async with ctx.sessions() as session:
        days = (
            await session.execute(
                select(IngestedFile.provider, IngestedFile.cycle_date)
                .where(
                    IngestedFile.provider.in_(list(providers)),
                    IngestedFile.status.in_(READY),
                    IngestedFile.cycle_date >= since,
                )
                .distinct()
            )
        ).all()
    made: list[int] = []
    for provider, day in days:
        made += await ensure_jobs(ctx, provider=provider, cycle_date=day)
    async with ctx.sessions.begin() as session:
        open_unknown = (
            await session.scalars(
                select(ReconException).where(
                    ReconException.kind == "UNKNOWN_BANK", ReconException.state == "OPEN"
                )
            )
        ).all()
        named = {
            row.id: {str(n) for n in (row.data or {}).get("banks", [])} for row in open_unknown
        }
        still = set(await unknown_banks(session, set().union(*named.values())))
        for row in open_unknown:
            if not named[row.id] & still:
                await resolve_by_system(
                    session,
                    ReconException.id == row.id,
                    now=ctx.clock(),
                    note="Every bank name of the file now has a bank connector.",
                )
    return made

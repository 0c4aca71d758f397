"""The expectation monitor: one FILE_MISSING exception per connector and overdue cycle date.

It opens when no file has arrived by the cutoff plus grace in the connector's zone, and it
resolves itself when the file arrives (by any run, backfill included).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.core.ids import public_id
from bankfeeds.days.due import BACKLOG_HORIZON, NOT_DELIVERED, expected_dates
from bankfeeds.desk.exceptions import open_exception, open_file_exception, resolve_by_system
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector, IngestedFile, ReconException, ReconJob


def missing_key(connector_pk: int, cycle_date: date) -> str:
    """The dedupe key of a connector's FILE_MISSING exception for one day."""
    return f"FILE_MISSING:{connector_pk}:{cycle_date.isoformat()}"


async def check(*, ctx: AppContext, now: datetime) -> int:
    """Open the FILE_MISSING exceptions that are due; returns how many were opened."""
    since = now - BACKLOG_HORIZON
    async with ctx.sessions() as session:
        connectors = (
            await session.scalars(
                select(Connector).where(
                    Connector.status == "ACTIVE", Connector.deleted_at.is_(None)
                )
            )
        ).all()
        received: dict[int, set[date]] = defaultdict(set)
        for cid, day in (
            await session.execute(
                select(IngestedFile.connector_id, IngestedFile.cycle_date)
                .where(IngestedFile.status.not_in(NOT_DELIVERED))
                .where(IngestedFile.cycle_date >= since.date())
                .distinct()
            )
        ).all():
            received[cid].add(day)
    opened = 0
    async with ctx.sessions.begin() as session:
        for connector in connectors:
            start = max(connector.created_at, since)
            for day in expected_dates(ctx, connector, start, now):
                if day in received[connector.id]:
                    continue
                opened += await open_exception(
                    session,
                    ctx,
                    kind="FILE_MISSING",
                    severity="HIGH",
                    message=(
                        f"No {connector.provider} file for {day.isoformat()} has arrived for "
                        f"{public_id('connector', connector.id)} ({connector.name})."
                    ),
                    dedupe_key=missing_key(connector.id, day),
                    connector_pk=connector.id,
                    provider=connector.provider,
                    cycle_date=day,
                )
        opened += await _counterparts(session, ctx, connectors, since, now)
    return opened


def counterpart_key(provider: str, cycle_date: date) -> str:
    """The dedupe key of a provider-day's COUNTERPART_MISSING exception."""
    return f"COUNTERPART_MISSING:{provider}:{cycle_date.isoformat()}"


async def _counterparts(
    session: AsyncSession,
    ctx: AppContext,
    connectors: Sequence[Connector],
    since: datetime,
    now: datetime,
) -> int:
    """Bank rows that no PG row will ever meet: a day past both sides' deadlines with no job.

    Usually the PG export names the bank in a way none of its aliases matches; without this
    the bank's rows would sit normalised and unreconciled, and nobody would be told.
    """
    pg_due: set[date] | None = None
    for c in connectors:
        if c.provider == "PG":
            pg_due = (pg_due or set()) | set(expected_dates(ctx, c, since, now))
    bank_due = {
        c.id: set(expected_dates(ctx, c, since, now)) for c in connectors if c.provider != "PG"
    }
    waiting = (
        await session.execute(
            select(IngestedFile)
            .outerjoin(
                ReconJob,
                (ReconJob.provider == IngestedFile.provider)
                & (ReconJob.cycle_date == IngestedFile.cycle_date),
            )
            .where(
                IngestedFile.status == "NORMALIZED",
                IngestedFile.provider != "PG",
                IngestedFile.row_count > 0,
                IngestedFile.cycle_date >= since.date(),
                ReconJob.id.is_(None),
            )
        )
    ).scalars()
    opened = 0
    for row in waiting:
        due = row.cycle_date in bank_due.get(row.connector_id, set())
        if not due or (pg_due is not None and row.cycle_date not in pg_due):
            continue
        day = row.cycle_date.isoformat()
        opened += await open_file_exception(
            session,
            ctx,
            row,
            kind="COUNTERPART_MISSING",
            severity="HIGH",
            message=(
                f"{row.remote_name} has {row.row_count} {row.provider} row(s) for {day}, but no "
                f"PG file of {day} has rows for {row.provider} (under any of its bank aliases), "
                "so they are not reconciled. Check the PG export's bank names and the "
                "connector's bankAliases."
            ),
            dedupe_key=counterpart_key(row.provider, row.cycle_date),
            data={"rows": row.row_count},
        )
    return opened


async def resolve_missing(session: AsyncSession, arrived: IngestedFile, *, now: datetime) -> None:
    """Resolve the FILE_MISSING of the day ``arrived`` is for, if open, in the caller's session."""
    await resolve_by_system(
        session,
        ReconException.dedupe_key == missing_key(arrived.connector_id, arrived.cycle_date),
        now=now,
        note=f"The file arrived: {public_id('file', arrived.id)}.",
        keep_key=True,
    )

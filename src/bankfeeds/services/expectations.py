"""The expectation monitor: one FILE_MISSING exception per connector and overdue cycle date.

It opens when no file has arrived by the cutoff plus grace in the connector's zone, and it
resolves itself when the file arrives (by any run, backfill included).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.adapters.db.models import Connector, IngestedFile, ReconException
from bankfeeds.domain.ids import public_id
from bankfeeds.services.context import AppContext
from bankfeeds.services.exceptions import open_exception
from bankfeeds.services.health import BACKLOG_HORIZON, expected_dates


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
                .where(IngestedFile.status.not_in(("QUARANTINED", "ERROR")))
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
    return opened


async def resolve_missing(
    session: AsyncSession, *, connector_pk: int, cycle_date: date, now: datetime
) -> None:
    """Resolve the day's FILE_MISSING exception, if open, in the caller's transaction."""
    await session.execute(
        update(ReconException)
        .where(ReconException.dedupe_key == missing_key(connector_pk, cycle_date))
        .where(ReconException.state == "OPEN")
        .values(state="RESOLVED", resolved_at=now, owner="system")
    )

"""The Connectors page in a handful of queries: health, backlog and open exceptions per connector.

``connector_views.get_connector`` computes one connector's health with its own queries; a page of
500 cards cannot afford 500 of those, so this module reads runs, received dates and exception
counts for every listed connector at once and memoises the schedule arithmetic they share.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.adapters.db.models import Connector, ConnectorRun, IngestedFile, ReconException
from bankfeeds.domain.health import Health, RunOutcome, RunStatus, compute_health
from bankfeeds.domain.ids import public_id
from bankfeeds.domain.schedule import expected_by, next_run_at
from bankfeeds.services.connector_views import BACKLOG_HORIZON, _filtered
from bankfeeds.services.context import AppContext


@dataclass(frozen=True, slots=True)
class Card:
    """Everything one connector card shows."""

    id: str
    name: str
    type: str
    provider: str
    status: str
    host: str
    health: Health
    next_run_at: datetime | None
    open_exceptions: int
    running: bool


@dataclass(frozen=True, slots=True)
class Board:
    """The cards to show and the tab counts (All / Active / Paused) under the other filters."""

    cards: list[Card]
    counts: dict[str, int] = field(default_factory=dict)


class _Schedules:
    """Memoised due instants and next runs: most connectors share a zone and a schedule."""

    def __init__(self, ctx: AppContext, now: datetime) -> None:
        self.cutoff = ctx.settings.scheduler_cutoff_hour
        self.grace = ctx.settings.scheduler_grace_period_hours
        self.now = now
        self._due: dict[tuple[str, int, date], datetime] = {}
        self._next: dict[tuple[str, str], datetime] = {}

    def due(self, tz: str, lag: int, day: date) -> datetime:
        key = (tz, lag, day)
        if key not in self._due:
            self._due[key] = expected_by(day, tz, self.cutoff, self.grace, lag_days=lag)
        return self._due[key]

    def expected(self, tz: str, lag: int, since: datetime) -> list[date]:
        """Dates whose file fell due after ``since`` and by now (as ``health_of`` counts them)."""
        day = since.astimezone(ZoneInfo(tz)).date() - timedelta(days=lag + 1)
        latest = self.now.astimezone(ZoneInfo(tz)).date()
        out = []
        while day <= latest:
            if since < self.due(tz, lag, day) <= self.now:
                out.append(day)
            day += timedelta(days=1)
        return out

    def next_run(self, cron: str, tz: str) -> datetime:
        if (cron, tz) not in self._next:
            self._next[(cron, tz)] = next_run_at(cron, tz, self.now)
        return self._next[(cron, tz)]


async def _facts(
    session: AsyncSession, ids: list[int], since: datetime
) -> tuple[dict[int, list[RunOutcome]], dict[int, set[date]], dict[int, int]]:
    runs: dict[int, list[RunOutcome]] = defaultdict(list)
    received: dict[int, set[date]] = defaultdict(set)
    open_counts: dict[int, int] = {}
    if not ids:
        return runs, received, open_counts
    for cid, status, started, finished in await session.execute(
        select(
            ConnectorRun.connector_id,
            ConnectorRun.status,
            ConnectorRun.started_at,
            ConnectorRun.finished_at,
        ).where(ConnectorRun.connector_id.in_(ids), ConnectorRun.queued_at >= since)
    ):
        runs[cid].append(RunOutcome(cast(RunStatus, status), started, finished))
    for cid, day in await session.execute(
        select(IngestedFile.connector_id, IngestedFile.cycle_date)
        .where(IngestedFile.connector_id.in_(ids))
        .where(IngestedFile.status.not_in(("QUARANTINED", "ERROR")))
        .distinct()
    ):
        received[cid].add(day)
    for owner, count in await session.execute(
        select(ReconException.connector_id, func.count())
        .where(ReconException.connector_id.in_(ids), ReconException.state == "OPEN")
        .group_by(ReconException.connector_id)
    ):
        if owner is not None:
            open_counts[owner] = int(count)
    return runs, received, open_counts


def _card(row: Connector, plan: _Schedules, facts: Any, since: datetime) -> Card:
    runs, received, open_counts = facts
    lag = 1 if row.target_cycle_rule == "yesterday" else 0
    health = compute_health(
        runs=runs.get(row.id, []),
        connector_status="PAUSED" if row.status == "PAUSED" else "ACTIVE",
        received_dates=received.get(row.id, set()),
        expected_dates=plan.expected(row.timezone, lag, max(row.created_at, since)),
        now=plan.now,
    )
    return Card(
        id=public_id("connector", row.id),
        name=row.name,
        type=row.type,
        provider=row.provider,
        status=row.status,
        host=str(row.config.get("host") or row.config.get("baseUrl") or ""),
        health=health,
        next_run_at=plan.next_run(row.schedule, row.timezone) if row.status == "ACTIVE" else None,
        open_exceptions=open_counts.get(row.id, 0),
        running=any(r.status in ("QUEUED", "RUNNING") for r in runs.get(row.id, [])),
    )


async def board(
    *,
    ctx: AppContext,
    status: str | None = None,
    provider: str | None = None,
    ctype: str | None = None,
    health: str | None = None,
    q: str | None = None,
    connector_pk: int | None = None,
) -> Board:
    """Cards for the connectors matching the filters, and the per-status counts."""
    now = ctx.clock()
    since = now - BACKLOG_HORIZON
    query = _filtered(None, provider, ctype, q).order_by(Connector.name, Connector.id)
    if connector_pk is not None:
        query = query.where(Connector.id == connector_pk)
    async with ctx.sessions() as session:
        rows = list((await session.scalars(query)).all())
        facts = await _facts(session, [r.id for r in rows], since)
    plan = _Schedules(ctx, now)
    cards = [_card(row, plan, facts, since) for row in rows]
    if health:
        cards = [c for c in cards if c.health.health_status == health]
    counts = {
        "ALL": len(cards),
        "ACTIVE": sum(c.status == "ACTIVE" for c in cards),
        "PAUSED": sum(c.status == "PAUSED" for c in cards),
    }
    if status:
        cards = [c for c in cards if c.status == status]
    return Board(cards=cards, counts=counts)

"""Connector health for one connector or thousands, in a constant number of queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.core.errors import UNFIXABLE
from bankfeeds.days.due import BACKLOG_HORIZON, NOT_DELIVERED, expected_dates
from bankfeeds.monitoring.health_rules import Health, RunOutcome, RunStatus, compute_health
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector, ConnectorRun, IngestedFile

#: The health rules of the README: CRITICAL on an error that retrying cannot fix or on no file for
#: the last two expected cycles. The success rate is the domain's one definition (the last 20
#: runs in 7 days), so the API, the UI and the WARNING rule show the same number.
HEALTH_RULES: dict[str, Any] = {
    "unfixable": UNFIXABLE,
    "critical_missing_cycles": 2,
}
#: Runs per connector that health reads: enough for every rule, bounded for 10,000 connectors.
RUNS_READ = 50


async def _recent_runs(
    session: AsyncSession, ids: list[int], since: datetime
) -> dict[int, list[RunOutcome]]:
    """The newest runs of each connector, through one windowed query."""
    ranked = (
        select(
            ConnectorRun.connector_id,
            ConnectorRun.status,
            ConnectorRun.started_at,
            ConnectorRun.finished_at,
            ConnectorRun.error_code,
            ConnectorRun.duration_ms,
            func.row_number()
            .over(partition_by=ConnectorRun.connector_id, order_by=ConnectorRun.id.desc())
            .label("n"),
        )
        .where(ConnectorRun.connector_id.in_(ids), ConnectorRun.queued_at >= since)
        .subquery()
    )
    runs: dict[int, list[RunOutcome]] = defaultdict(list)
    rows = await session.execute(select(ranked).where(ranked.c.n <= RUNS_READ))
    for cid, status, started, finished, code, duration, _ in rows:
        runs[cid].append(RunOutcome(cast(RunStatus, status), started, finished, code, duration))
    return runs


async def _received(session: AsyncSession, ids: list[int], since: datetime) -> dict[int, set[date]]:
    received: dict[int, set[date]] = defaultdict(set)
    rows = await session.execute(
        select(IngestedFile.connector_id, IngestedFile.cycle_date)
        .where(IngestedFile.connector_id.in_(ids))
        .where(IngestedFile.status.not_in(NOT_DELIVERED))
        .where(IngestedFile.cycle_date >= since.date() - timedelta(days=2))
        .distinct()
    )
    for cid, day in rows:
        received[cid].add(day)
    return received


async def health_many(
    session: AsyncSession, ctx: AppContext, rows: Sequence[Connector]
) -> dict[int, Health]:
    """Health of every connector in ``rows``, keyed by primary key, in two queries."""
    now = ctx.clock()
    since = now - BACKLOG_HORIZON
    out: dict[int, Health] = {}
    for chunk in range(0, len(rows), 1000):  # keeps each IN list within database limits
        part = rows[chunk : chunk + 1000]
        ids = [r.id for r in part]
        runs, received = (
            await _recent_runs(session, ids, since),
            await _received(session, ids, since),
        )
        for row in part:
            out[row.id] = compute_health(
                runs=runs.get(row.id, []),
                connector_status="PAUSED" if row.status == "PAUSED" else "ACTIVE",
                received_dates=received.get(row.id, set()),
                expected_dates=expected_dates(ctx, row, max(row.created_at, since), now),
                now=now,
                **HEALTH_RULES,
            )
    return out


def health_view(health: Health, next_run: str | None) -> dict[str, Any]:
    """The API shape of a connector's health."""
    oldest = health.backlog_oldest_missing
    return {
        "healthStatus": health.health_status,
        "lastRunAt": health.last_run_at.isoformat() if health.last_run_at else None,
        "lastSuccessAt": health.last_success_at.isoformat() if health.last_success_at else None,
        "successRate": health.success_rate,
        "successRateWindow": health.success_rate_window,
        "successRateRuns": health.success_rate_runs,
        "averageDurationMs": health.average_duration_ms,
        "backlog": {
            "missingDays": health.backlog_missing_days,
            "oldestMissing": oldest.isoformat() if oldest else None,
        },
        "nextRunAt": next_run,
        "reasons": list(health.reasons),
    }

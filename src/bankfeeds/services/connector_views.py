"""Connector reads: the API view of a connector, lists with filters, and detail with health."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.adapters.db.models import Connector, ConnectorRun, IngestedFile
from bankfeeds.domain.connectors import MASK, SECRET_FIELDS, ConnectorStatus
from bankfeeds.domain.health import Health, RunOutcome, RunStatus, compute_health
from bankfeeds.domain.ids import decode_cursor, encode_cursor, parse_id, public_id
from bankfeeds.domain.retry import UNFIXABLE
from bankfeeds.domain.schedule import expected_by, expected_cycle_dates, next_run_at
from bankfeeds.errors import NotFound
from bankfeeds.services.context import AppContext

#: The health rules of the README: success rate over the last 30 runs, CRITICAL on an error that
#: retrying cannot fix or on no file for the last two expected cycles.
HEALTH_RULES: dict[str, Any] = {
    "rate_runs": 30,
    "unfixable": UNFIXABLE,
    "critical_missing_cycles": 2,
}
# Health looks back this far for backlog, so an old connector's history does not grow unbounded.
BACKLOG_HORIZON = timedelta(days=31)
RECENT_RUNS = 10


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def connector_view(ctx: AppContext, row: Connector, now: datetime) -> dict[str, Any]:
    """The API shape of a connector: secrets masked, ``has*`` flags, next run."""
    secrets = ctx.secrets.decrypt(row.secrets)
    config = dict(row.config)
    for field in SECRET_FIELDS:
        if field in secrets:
            config[field] = MASK
    flags = {f"has{field[0].upper()}{field[1:]}": field in secrets for field in SECRET_FIELDS}
    active = row.status == ConnectorStatus.ACTIVE.value
    return {
        "id": public_id("connector", row.id),
        "name": row.name,
        "type": row.type,
        "provider": row.provider,
        "status": row.status,
        "config": config,
        **flags,
        "hostKeyFingerprint": row.host_key_fingerprint,
        "nextRunAt": _iso(next_run_at(row.schedule, row.timezone, now)) if active else None,
        "createdAt": _iso(row.created_at),
        "updatedAt": _iso(row.updated_at),
    }


def run_view(run: ConnectorRun) -> dict[str, Any]:
    """The API shape of a run."""
    return {
        "id": public_id("run", run.id),
        "connectorId": public_id("connector", run.connector_id),
        "cycleDate": run.cycle_date.isoformat(),
        "trigger": run.trigger,
        "status": run.status,
        "attempt": run.attempt,
        "force": run.force,
        "backfillJobId": run.backfill_job_id,
        "queuedAt": _iso(run.queued_at),
        "startedAt": _iso(run.started_at),
        "finishedAt": _iso(run.finished_at),
        "durationMs": run.duration_ms,
        "filesDiscovered": run.files_discovered,
        "filesDownloaded": run.files_downloaded,
        "filesSkipped": run.files_skipped,
        "filesQuarantined": run.files_quarantined,
        "filesFailed": run.files_failed,
        "bytesDownloaded": run.bytes_downloaded,
        "bytesExpected": run.bytes_expected,
        "errorCode": run.error_code,
        "error": run.error_message,
    }


def _filtered(
    status: str | None, provider: str | None, ctype: str | None, q: str | None
) -> Select[Connector]:
    query = select(Connector).where(Connector.deleted_at.is_(None))
    if status:
        query = query.where(Connector.status == status)
    if provider:
        query = query.where(Connector.provider == provider)
    if ctype:
        query = query.where(Connector.type == ctype)
    if q:
        needle = q.strip().lower()
        query = query.where(
            or_(
                func.lower(Connector.name).contains(needle, autoescape=True),
                func.lower(Connector.provider).contains(needle, autoescape=True),
                func.lower(Connector.config["host"].as_string()).contains(needle, autoescape=True),
            )
        )
    return query


async def list_connectors(
    *,
    ctx: AppContext,
    status: str | None = None,
    provider: str | None = None,
    ctype: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """One page of connectors in id order, with the total matching the filters."""
    base = _filtered(status, provider, ctype, q)
    page_query = base.order_by(Connector.id).limit(limit + 1)
    if cursor:
        page_query = page_query.where(Connector.id > decode_cursor(cursor))
    async with ctx.sessions() as session:
        total = await session.scalar(select(func.count()).select_from(base.subquery()))
        rows = list((await session.scalars(page_query)).all())
    page, more = rows[:limit], len(rows) > limit
    now = ctx.clock()
    return {
        "connectors": [connector_view(ctx, row, now) for row in page],
        "total": total or 0,
        "hasMore": more,
        "cursor": encode_cursor(page[-1].id) if more and page else None,
    }


def expected_dates(ctx: AppContext, row: Connector, since: datetime, now: datetime) -> list[date]:
    """Cycle dates whose file fell due after ``since`` and by ``now``.

    A ``yesterday`` connector fetches day D on D+1, so D's file is due at D+1's cutoff plus
    grace; the cutoff and grace are the connector's own when it sets them.
    """
    lag = 1 if row.target_cycle_rule == "yesterday" else 0
    cutoff = int(row.config.get("cutoffHour", ctx.settings.scheduler_cutoff_hour))
    grace = int(row.config.get("graceHours", ctx.settings.scheduler_grace_period_hours))
    start = since.astimezone(ZoneInfo(row.timezone)).date() - timedelta(days=lag + 1)
    # A connector is not blamed for files that fell due before it existed.
    while expected_by(start, row.timezone, cutoff, grace, lag_days=lag) <= since:
        start += timedelta(days=1)
    return expected_cycle_dates(row.timezone, start, now, cutoff, grace, lag_days=lag)


async def health_of(session: AsyncSession, ctx: AppContext, row: Connector) -> Health:
    """Compute a connector's health from its recent runs and the files it has received."""
    now = ctx.clock()
    since = now - BACKLOG_HORIZON
    runs = (
        await session.execute(
            select(
                ConnectorRun.status,
                ConnectorRun.started_at,
                ConnectorRun.finished_at,
                ConnectorRun.error_code,
                ConnectorRun.duration_ms,
            )
            .where(ConnectorRun.connector_id == row.id, ConnectorRun.queued_at >= since)
            .order_by(ConnectorRun.id.desc())
            .limit(200)
        )
    ).all()
    received = set(
        (
            await session.scalars(
                select(IngestedFile.cycle_date)
                .where(IngestedFile.connector_id == row.id)
                .where(IngestedFile.status.not_in(("QUARANTINED", "ERROR")))
                .distinct()
            )
        ).all()
    )
    expected = expected_dates(ctx, row, max(row.created_at, since), now)
    return compute_health(
        runs=[
            RunOutcome(cast(RunStatus, r[0]), r[1], r[2], error_code=r[3], duration_ms=r[4])
            for r in runs
        ],
        connector_status="PAUSED" if row.status == "PAUSED" else "ACTIVE",
        received_dates=received,
        expected_dates=expected,
        now=now,
        **HEALTH_RULES,
    )


def health_view(health: Health, next_run: str | None) -> dict[str, Any]:
    """The API shape of a connector's health."""
    return {
        "healthStatus": health.health_status,
        "lastRunAt": _iso(health.last_run_at),
        "lastSuccessAt": _iso(health.last_success_at),
        "successRate": health.success_rate,
        "averageDurationMs": health.average_duration_ms,
        "backlog": {
            "missingDays": health.backlog_missing_days,
            "oldestMissing": health.backlog_oldest_missing.isoformat()
            if health.backlog_oldest_missing
            else None,
        },
        "nextRunAt": next_run,
        "reasons": list(health.reasons),
    }


async def get_connector(*, ctx: AppContext, connector_id: str) -> dict[str, Any]:
    """A connector with its health and its most recent runs."""
    pk = parse_id("connector", connector_id)
    async with ctx.sessions() as session:
        row = await session.get(Connector, pk)
        if row is None or row.deleted_at is not None:
            raise NotFound(f"No connector with id {connector_id!r}.")
        health = await health_of(session, ctx, row)
        runs = (
            await session.scalars(
                select(ConnectorRun)
                .where(ConnectorRun.connector_id == pk)
                .order_by(ConnectorRun.id.desc())
                .limit(RECENT_RUNS)
            )
        ).all()
    view = connector_view(ctx, row, ctx.clock())
    view["health"] = health_view(health, view["nextRunAt"])
    view["recentRuns"] = [run_view(r) for r in runs]
    return view

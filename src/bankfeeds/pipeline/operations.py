"""Operator actions on a connector: test the connection, run now, backfill a range of days."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import date, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bankfeeds.connectors.patterns import matches
from bankfeeds.connectors.schedule import cycle_date_for
from bankfeeds.connectors.service import load
from bankfeeds.connectors.sources import http_params, pin_if_new, sftp_params
from bankfeeds.connectors.views import run_view
from bankfeeds.core.errors import (
    ApiRefused,
    AuthenticationFailed,
    BankfeedsError,
    ConfigError,
    FieldError,
    HostKeyError,
    SourceError,
    ValidationFailed,
)
from bankfeeds.core.ids import public_id
from bankfeeds.pipeline.worker import Worker
from bankfeeds.scheduling import runs
from bankfeeds.scheduling import views as run_views
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector
from bankfeeds.transports.http.source import check_reachable
from bankfeeds.transports.sftp.client import open_sftp

MAX_BACKFILL_DAYS = 93


async def _connector(ctx: AppContext, connector_id: str) -> Connector:
    async with ctx.sessions() as session:
        return await load(session, connector_id)


def target_cycle_date(connector: Connector, ctx: AppContext) -> date:
    """The cycle date a run started now would fetch, by the connector's rule and zone."""
    rule: Literal["yesterday", "today"] = (
        "today" if connector.target_cycle_rule == "today" else "yesterday"
    )
    return cycle_date_for(rule, ctx.clock(), connector.timezone)


async def test_connection(*, ctx: AppContext, connector_id: str) -> dict[str, Any]:
    """Connect, log in, list; report what was found for the target cycle date."""
    connector = await _connector(ctx, connector_id)
    if connector.type == "API":
        return await _test_api(ctx, connector)
    config, cycle = connector.config, target_cycle_date(connector, ctx)
    details: dict[str, Any] = {
        "connected": False,
        "authenticated": False,
        "hostKeyFingerprint": None,
        "latencyMs": None,
    }
    started = time.monotonic()
    try:
        async with open_sftp(sftp_params(ctx, connector)) as source:
            details.update(connected=True, authenticated=True)
            details["hostKeyFingerprint"] = source.host_key_fingerprint
            details["latencyMs"] = round((time.monotonic() - started) * 1000)
            await pin_if_new(ctx, connector, source)
            entries = await source.list_dir(config["remotePath"])
    except (SourceError, ConfigError) as exc:  # a stored row that breaks a rule says which
        details["connected"] = (
            isinstance(exc, AuthenticationFailed | HostKeyError) or details["connected"]
        )
        if isinstance(exc, HostKeyError) and exc.fingerprint:
            details["hostKeyFingerprint"] = exc.fingerprint
        return {"success": False, "message": exc.message, "filesFound": [], "details": details}
    names = {e.name for e in entries}
    ext = str(config.get("checksumExt") or "")
    found = [
        {
            "name": e.name,
            "size": e.size,
            "modifiedAt": e.mtime,
            "hasChecksum": bool(ext) and (e.name + ext) in names,
        }
        for e in entries
        if e.kind == "file" and matches(config["filePattern"], e.name, cycle)
    ]
    message = f"Connected; {len(found)} file(s) match for cycle date {cycle.isoformat()}."
    return {
        "success": True,
        "message": message,
        "cycleDate": cycle.isoformat(),
        "filesFound": found,
        "details": details,
    }


async def _test_api(ctx: AppContext, connector: Connector) -> dict[str, Any]:
    """Check the API's address is safe and ask it for the target cycle date's file."""
    cycle = target_cycle_date(connector, ctx)
    details: dict[str, Any] = {"connected": False, "authenticated": False, "latencyMs": None}
    started = time.monotonic()
    try:
        params = http_params(ctx, connector)
        message = await check_reachable(params, today=cycle + timedelta(days=1))
    except ApiRefused as exc:
        # The server answered: reachable; 401/403 mean the credentials are wrong.
        details["connected"] = True
        details["authenticated"] = exc.http_status not in (401, 403)
        return {"success": False, "message": exc.message, "filesFound": [], "details": details}
    except BankfeedsError as exc:
        return {"success": False, "message": exc.message, "filesFound": [], "details": details}
    details.update(
        connected=True, authenticated=True, latencyMs=round((time.monotonic() - started) * 1000)
    )
    return {
        "success": True,
        "message": message,
        "cycleDate": cycle.isoformat(),
        "filesFound": [],
        "details": details,
    }


async def run_now(
    *,
    ctx: AppContext,
    worker: Worker,
    connector_id: str,
    cycle_date: date | None,
    force: bool,
    actor: str,
    wait_seconds: float,
) -> tuple[dict[str, Any], bool]:
    """Start a run at once; return it when done within ``wait_seconds`` (True) or still running."""
    connector = await _connector(ctx, connector_id)
    cycle = cycle_date or target_cycle_date(connector, ctx)
    run = await runs.start_run(
        ctx=ctx,
        connector_id=connector_id,
        cycle_date=cycle,
        trigger="MANUAL",
        force=force,
        actor=actor,
        worker_id=worker.worker_id,
    )
    task = worker.execute(run.id)
    await asyncio.wait({task}, timeout=wait_seconds)
    return await run_views.get_run(ctx=ctx, run_id=public_id("run", run.id)), task.done()


def check_range(start: date, end: date, today: date) -> None:
    """Refuse a backfill range that is reversed, in the future or too long."""
    errors = []
    if end > today:
        errors.append(FieldError("endDate", f"must not be after today ({today.isoformat()})"))
    if start > end:
        errors.append(FieldError("startDate", "must not be after endDate"))
    elif (end - start).days + 1 > MAX_BACKFILL_DAYS:
        errors.append(FieldError("endDate", f"a backfill covers at most {MAX_BACKFILL_DAYS} days"))
    if errors:
        raise ValidationFailed(errors=errors)


async def backfill(
    *,
    ctx: AppContext,
    worker: Worker,
    connector_id: str,
    start: date,
    end: date,
    force: bool,
    actor: str,
) -> dict[str, Any]:
    """Queue one run per day from ``start`` to ``end``; the worker runs them in date order."""
    connector = await _connector(ctx, connector_id)
    today = ctx.clock().astimezone(ZoneInfo(connector.timezone)).date()
    check_range(start, end, today)
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    job_id = f"bf_{uuid.uuid4().hex[:16]}"
    queued = await runs.queue_runs(
        ctx=ctx,
        connector_id=connector_id,
        dates=days,
        trigger="BACKFILL",
        force=force,
        actor=actor,
        job_id=job_id,
    )
    worker.wake()
    return {
        "jobId": job_id,
        "connectorId": connector_id,
        "daysToProcess": len(days),
        "status": "QUEUED",
        "runs": [run_view(r) for r in queued],
    }

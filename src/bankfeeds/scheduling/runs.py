"""Run records: create, claim, progress, finish, and read runs.

A connector has at most one RUNNING run; the partial unique index on ``recon_connector_run``
decides, so two workers or two clicks can never both start one.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bankfeeds.connectors.service import connector_secrets, load
from bankfeeds.core.errors import AlreadyRunning, BankfeedsError, ConnectorPaused
from bankfeeds.core.ids import parse_id, public_id
from bankfeeds.core.logs import scrub
from bankfeeds.core.redact import redact
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector, ConnectorRun

ACTIVE = ("QUEUED", "RUNNING")


def new_worker_id() -> str:
    """A unique identity for one worker's leases."""
    return f"worker-{uuid.uuid4().hex[:12]}"


def _lease(ctx: AppContext) -> timedelta:
    return timedelta(seconds=ctx.settings.lease_seconds)


async def start_run(
    *,
    ctx: AppContext,
    connector_id: str,
    cycle_date: date,
    trigger: str,
    force: bool,
    actor: str,
    worker_id: str,
) -> ConnectorRun:
    """Create a run that is RUNNING at once, leased to ``worker_id``; 409 if one is running."""
    now = ctx.clock()
    try:
        async with ctx.sessions.begin() as session:
            connector = await load(session, connector_id)
            _refuse_paused(connector)
            run = ConnectorRun(
                connector_id=connector.id,
                cycle_date=cycle_date,
                trigger=trigger,
                force=force,
                status="RUNNING",
                requested_by=actor,
                queued_at=now,
                started_at=now,
                heartbeat_at=now,
                lease_owner=worker_id,
                lease_expires_at=now + _lease(ctx),
            )
            session.add(run)
            await session.flush()
    except IntegrityError as exc:
        running = await _running_run(ctx, parse_id("connector", connector_id))
        raise AlreadyRunning(running or "unknown") from exc
    return run


def _refuse_paused(connector: Connector) -> None:
    if connector.status == "PAUSED":
        raise ConnectorPaused(
            f"Connector {public_id('connector', connector.id)} is paused; resume it to run it."
        )


async def _running_run(ctx: AppContext, connector_pk: int) -> str | None:
    async with ctx.sessions() as session:
        pk = await session.scalar(
            select(ConnectorRun.id).where(
                ConnectorRun.connector_id == connector_pk, ConnectorRun.status == "RUNNING"
            )
        )
    return public_id("run", pk) if pk else None


async def queue_runs(
    *,
    ctx: AppContext,
    connector_id: str,
    dates: list[date],
    trigger: str,
    force: bool,
    actor: str,
    job_id: str | None,
) -> list[ConnectorRun]:
    """Queue one run per date, in order (a backfill)."""
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        connector = await load(session, connector_id)
        _refuse_paused(connector)
        runs = [
            ConnectorRun(
                connector_id=connector.id,
                cycle_date=d,
                trigger=trigger,
                force=force,
                status="QUEUED",
                requested_by=actor,
                queued_at=now,
                backfill_job_id=job_id,
            )
            for d in dates
        ]
        session.add_all(runs)
        await session.flush()
    return runs


async def claim_batch(*, ctx: AppContext, worker_id: str, limit: int) -> list[int]:
    """Claim up to ``limit`` runnable runs for ``worker_id``: the oldest of each connector.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets many workers claim at once without waiting on
    each other; SQLite has one writer, so the conditional update alone decides. Either way the
    partial unique index on RUNNING runs keeps one active run per connector.
    """
    now = ctx.clock()
    run, other = ConnectorRun, ConnectorRun.__table__.alias("other")
    oldest = (
        select(other.c.id)
        .where(other.c.connector_id == run.connector_id, other.c.status == "QUEUED")
        .where((other.c.not_before.is_(None)) | (other.c.not_before <= now))
        .order_by(other.c.id)
        .limit(1)
        .scalar_subquery()
    )
    query = (
        select(run.id)
        .join(Connector, Connector.id == run.connector_id)
        .where(run.status == "QUEUED", run.id == oldest, Connector.status == "ACTIVE")
        .order_by(run.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=run)
    )
    claimed: list[int] = []
    async with ctx.sessions.begin() as session:
        for run_pk in (await session.scalars(query)).all():
            try:
                async with session.begin_nested():
                    result = await session.execute(
                        update(ConnectorRun)
                        .where(ConnectorRun.id == run_pk, ConnectorRun.status == "QUEUED")
                        .values(
                            status="RUNNING",
                            started_at=now,
                            heartbeat_at=now,
                            lease_owner=worker_id,
                            lease_expires_at=now + _lease(ctx),
                        )
                    )
                    if result.rowcount:  # type: ignore[attr-defined]
                        claimed.append(run_pk)
            except IntegrityError:
                continue  # another run of that connector is RUNNING
    return claimed


async def heartbeat(
    *, ctx: AppContext, run_pk: int, worker_id: str, bytes_downloaded: int, bytes_expected: int
) -> bool:
    """Renew the lease and record progress; False when the lease is no longer ours."""
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        result = await session.execute(
            update(ConnectorRun)
            .where(
                ConnectorRun.id == run_pk,
                ConnectorRun.status == "RUNNING",
                ConnectorRun.lease_owner == worker_id,
            )
            .values(
                heartbeat_at=now,
                lease_expires_at=now + _lease(ctx),
                bytes_downloaded=bytes_downloaded,
                bytes_expected=bytes_expected,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def release(*, ctx: AppContext, run_pk: int, worker_id: str) -> None:
    """Hand a run back to the queue (a worker shutting down before it could finish)."""
    async with ctx.sessions.begin() as session:
        await session.execute(
            update(ConnectorRun)
            .where(ConnectorRun.id == run_pk, ConnectorRun.lease_owner == worker_id)
            .where(ConnectorRun.status == "RUNNING")
            .values(status="QUEUED", started_at=None, lease_owner=None, lease_expires_at=None)
        )


async def finish(
    *,
    ctx: AppContext,
    run_pk: int,
    worker_id: str,
    status: str,
    retryable: bool,
    got_file: bool = False,
    **fields: Any,
) -> bool:
    """End a run we hold with its outcome and counts; queue its retry when one is due.

    ``got_file`` says the run left its day with a usable file: then an open RUN_FAILED of that
    connector and day is resolved with the run, in the same transaction.
    Returns False (and changes nothing) when the lease was lost to another worker meanwhile.
    """
    from bankfeeds.scheduling.retries import after_failure, resolve_failed

    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        run = await session.get(ConnectorRun, run_pk, with_for_update=True)
        if run is None or run.status != "RUNNING" or run.lease_owner != worker_id:
            return False
        started = run.started_at or now
        run.status, run.finished_at = status, now
        run.lease_owner, run.lease_expires_at = None, None
        run.duration_ms = int((now - started).total_seconds() * 1000)
        if fields.get("error_message"):
            # Whoever built the message, no secret of the connector is stored in the run.
            fields["error_message"] = redact(
                scrub(str(fields["error_message"])),
                await _secrets(ctx, await session.get(Connector, run.connector_id)),
            )
        for name, value in fields.items():
            setattr(run, name, value)
        if got_file:
            await resolve_failed(session, run, now=now)
        if status != "SUCCESS":
            await after_failure(session, ctx, run, retryable=retryable, now=now)
    return True


async def _secrets(ctx: AppContext, connector: Connector | None) -> tuple[str, ...]:
    """The connector's secret values; none when it cannot be decrypted (nothing to leak then)."""
    if connector is None:
        return ()
    try:
        return connector_secrets(ctx, connector)
    except BankfeedsError:
        return ()


async def requeue_expired(*, ctx: AppContext) -> int:
    """Put RUNNING runs whose lease expired (their worker died) back in the queue."""
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        result = await session.execute(
            update(ConnectorRun)
            .where(ConnectorRun.status == "RUNNING", ConnectorRun.lease_expires_at < now)
            .values(
                status="QUEUED",
                started_at=None,
                lease_owner=None,
                lease_expires_at=None,
                error_code="worker-lost",
                error_message="The worker running this run stopped; it was queued again.",
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

"""Run records: create, claim, progress, finish, and read runs.

A connector has at most one RUNNING run; the partial unique index on ``recon_connector_run``
decides, so two workers or two clicks can never both start one.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bankfeeds.adapters.db.models import ConnectorRun, IngestedFile, RunFile
from bankfeeds.domain.ids import decode_cursor, encode_cursor, parse_id, public_id
from bankfeeds.errors import Conflict, NotFound
from bankfeeds.services.connector_views import run_view
from bankfeeds.services.connectors import load
from bankfeeds.services.context import AppContext

LEASE = timedelta(seconds=60)
ACTIVE = ("QUEUED", "RUNNING")
#: A worker identity for leases: one per process.
WORKER_ID = f"worker-{uuid.uuid4().hex[:12]}"


class AlreadyRunning(Conflict):
    """The connector already has a run in progress."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"Connector already has a run in progress ({run_id}); wait for it.")
        self.run_id = run_id


async def start_run(
    *,
    ctx: AppContext,
    connector_id: str,
    cycle_date: date,
    trigger: str,
    force: bool,
    actor: str,
) -> ConnectorRun:
    """Create a run that is RUNNING at once, leased to this process; 409 if one is running."""
    now = ctx.clock()
    try:
        async with ctx.sessions.begin() as session:
            connector = await load(session, connector_id)
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
                lease_owner=WORKER_ID,
                lease_expires_at=now + LEASE,
            )
            session.add(run)
            await session.flush()
    except IntegrityError as exc:
        running = await _running_run(ctx, parse_id("connector", connector_id))
        raise AlreadyRunning(running or "unknown") from exc
    return run


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


async def claim(*, ctx: AppContext, run_pk: int) -> bool:
    """Move a QUEUED run to RUNNING under this process's lease; False if it cannot start now."""
    now = ctx.clock()
    try:
        async with ctx.sessions.begin() as session:
            result = await session.execute(
                update(ConnectorRun)
                .where(ConnectorRun.id == run_pk, ConnectorRun.status == "QUEUED")
                .values(
                    status="RUNNING",
                    started_at=now,
                    heartbeat_at=now,
                    lease_owner=WORKER_ID,
                    lease_expires_at=now + LEASE,
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]
    except IntegrityError:
        return False  # another run of the connector is RUNNING


async def heartbeat(
    *, ctx: AppContext, run_pk: int, bytes_downloaded: int, bytes_expected: int
) -> None:
    """Renew the lease and record transfer progress."""
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        await session.execute(
            update(ConnectorRun)
            .where(ConnectorRun.id == run_pk, ConnectorRun.status == "RUNNING")
            .values(
                heartbeat_at=now,
                lease_expires_at=now + LEASE,
                bytes_downloaded=bytes_downloaded,
                bytes_expected=bytes_expected,
            )
        )


async def finish(*, ctx: AppContext, run_pk: int, status: str, **fields: Any) -> None:
    """End a run with its outcome and counts."""
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        run = await session.get(ConnectorRun, run_pk)
        assert run is not None
        started = run.started_at or now
        await session.execute(
            update(ConnectorRun)
            .where(ConnectorRun.id == run_pk)
            .values(
                status=status,
                finished_at=now,
                lease_owner=None,
                lease_expires_at=None,
                duration_ms=int((now - started).total_seconds() * 1000),
                **fields,
            )
        )


async def fail_expired(*, ctx: AppContext, now: datetime | None = None) -> int:
    """End RUNNING runs whose lease expired (their worker died) so none stays RUNNING."""
    now = now or ctx.clock()
    async with ctx.sessions.begin() as session:
        result = await session.execute(
            update(ConnectorRun)
            .where(ConnectorRun.status == "RUNNING", ConnectorRun.lease_expires_at < now)
            .values(
                status="FAILED",
                finished_at=now,
                lease_owner=None,
                lease_expires_at=None,
                error_code="worker-lost",
                error_message="The worker running this run stopped before it finished.",
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def _file_view(row: RunFile) -> dict[str, Any]:
    return {
        "name": row.remote_name,
        "size": row.size,
        "outcome": row.outcome,
        "sha256": row.sha256,
        "fileId": public_id("file", row.file_id) if row.file_id else None,
        "message": row.message,
    }


async def get_run(*, ctx: AppContext, run_id: str) -> dict[str, Any]:
    """One run with what it did to each file."""
    pk = parse_id("run", run_id)
    async with ctx.sessions() as session:
        run = await session.get(ConnectorRun, pk)
        if run is None:
            raise NotFound(f"No run with id {run_id!r}.")
        files = (
            await session.scalars(select(RunFile).where(RunFile.run_id == pk).order_by(RunFile.id))
        ).all()
        stored = (
            await session.scalars(select(IngestedFile).where(IngestedFile.run_id == pk))
        ).all()
    view = run_view(run)
    view["files"] = [_file_view(f) for f in files]
    view["ingestedFiles"] = [
        {
            "id": public_id("file", f.id),
            "name": f.remote_name,
            "sha256": f.sha256,
            "size": f.size,
            "status": f.status,
            "version": f.version,
            "objectKey": f.object_key,
        }
        for f in stored
    ]
    return view


async def list_runs(
    *, ctx: AppContext, connector_id: str, cursor: str | None, limit: int
) -> dict[str, Any]:
    """A connector's runs, newest first, a page at a time."""
    async with ctx.sessions() as session:
        connector = await load(session, connector_id)
        query = (
            select(ConnectorRun)
            .where(ConnectorRun.connector_id == connector.id)
            .order_by(ConnectorRun.id.desc())
            .limit(limit + 1)
        )
        if cursor:
            query = query.where(ConnectorRun.id < decode_cursor(cursor))
        rows = list((await session.scalars(query)).all())
    page, more = rows[:limit], len(rows) > limit
    return {
        "runs": [run_view(r) for r in page],
        "hasMore": more,
        "cursor": encode_cursor(page[-1].id) if more and page else None,
    }


async def backfill_status(*, ctx: AppContext, job_id: str) -> dict[str, Any]:
    """A backfill's runs and overall progress."""
    async with ctx.sessions() as session:
        runs = (
            await session.scalars(
                select(ConnectorRun)
                .where(ConnectorRun.backfill_job_id == job_id)
                .order_by(ConnectorRun.cycle_date)
            )
        ).all()
    if not runs:
        raise NotFound(f"No backfill job with id {job_id!r}.")
    done = [r for r in runs if r.status not in ACTIVE]
    failed = [r for r in done if r.status in ("FAILED", "CANCELLED")]
    status = "RUNNING" if len(done) < len(runs) else ("FAILED" if failed else "COMPLETED")
    if status == "COMPLETED" and any(r.status == "PARTIAL" for r in runs):
        status = "PARTIAL"
    return {
        "jobId": job_id,
        "connectorId": public_id("connector", runs[0].connector_id),
        "daysToProcess": len(runs),
        "daysDone": len(done),
        "status": status,
        "runs": [run_view(r) for r in runs],
    }

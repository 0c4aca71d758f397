"""Exceptions an ops person must look at: open them once, list them, resolve them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.alerts import outbox as alerts
from bankfeeds.core.errors import NotFound
from bankfeeds.core.ids import parse_id, public_id
from bankfeeds.core.logs import scrub
from bankfeeds.desk.kinds import ALERTED
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import IngestedFile, ReconException


async def open_exception(
    session: AsyncSession,
    ctx: AppContext,
    *,
    kind: str,
    severity: str,
    message: str,
    dedupe_key: str | None = None,
    connector_pk: int | None = None,
    run_pk: int | None = None,
    file_pk: int | None = None,
    provider: str | None = None,
    cycle_date: date | None = None,
    data: dict[str, Any] | None = None,
) -> bool:
    """Open an exception in the caller's transaction; False when its dedupe key is already open."""
    message = scrub(message)  # a run's secrets (and credential-like headers) never reach it
    row = ReconException(
        kind=kind,
        severity=severity,
        state="OPEN",
        message=message,
        dedupe_key=dedupe_key,
        connector_id=connector_pk,
        run_id=run_pk,
        file_id=file_pk,
        provider=provider,
        cycle_date=cycle_date,
        data=data,
        created_at=ctx.clock(),
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return False
    if kind in ALERTED:
        await alerts.emit(
            session,
            ctx,
            kind=kind,
            key=dedupe_key or public_id("exception", row.id),
            payload={"message": message, **exception_view(row)},
        )
    return True


async def open_file_exception(
    session: AsyncSession,
    ctx: AppContext,
    row: IngestedFile,
    *,
    kind: str,
    severity: str,
    message: str,
    dedupe_key: str,
    data: dict[str, Any],
) -> bool:
    """Open an exception about a stored file: its connector, run, provider and day go with it."""
    return await open_exception(
        session,
        ctx,
        kind=kind,
        severity=severity,
        message=message,
        dedupe_key=dedupe_key,
        connector_pk=row.connector_id,
        run_pk=row.run_id,
        file_pk=row.id,
        provider=row.provider,
        cycle_date=row.cycle_date,
        data={"name": row.remote_name, **data},
    )


def exception_view(row: ReconException) -> dict[str, Any]:
    """The API shape of an exception."""
    return {
        "id": public_id("exception", row.id),
        "kind": row.kind,
        "severity": row.severity,
        "state": row.state,
        "owner": row.owner,
        "message": row.message,
        "connectorId": public_id("connector", row.connector_id) if row.connector_id else None,
        "runId": public_id("run", row.run_id) if row.run_id else None,
        "fileId": public_id("file", row.file_id) if row.file_id else None,
        "provider": row.provider,
        "cycleDate": row.cycle_date.isoformat() if row.cycle_date else None,
        "sourceRow": row.source_row,
        "data": row.data,
        "createdAt": row.created_at.isoformat(),
        "resolvedAt": row.resolved_at.isoformat() if row.resolved_at else None,
    }


async def get_exception(ctx: AppContext, exception_id: str) -> dict[str, Any]:
    """One exception's view."""
    async with ctx.sessions() as session:
        row = await session.get(ReconException, parse_id("exception", exception_id))
    if row is None:
        raise NotFound(f"No exception with id {exception_id!r}.")
    return exception_view(row)


async def resolve_by_system(
    session: AsyncSession,
    *conditions: ColumnElement[bool],
    now: datetime,
    note: str,
    keep_key: bool = False,
) -> int:
    """Resolve the open exceptions matching ``conditions`` because their cause is gone.

    Runs in the caller's transaction, so the exception closes exactly when the event that removed
    its cause commits. The note says what removed it; the owner is ``system``. ``keep_key``
    keeps the dedupe key taken, for causes that cannot come back (a day's file has arrived).
    """
    rows = (
        await session.scalars(
            select(ReconException).where(ReconException.state == "OPEN", *conditions)
        )
    ).all()
    for row in rows:
        resolution = {"note": note, "by": "system", "at": now.isoformat()}
        row.data = {**(row.data or {}), "resolution": resolution}
        row.state, row.resolved_at, row.owner = "RESOLVED", now, row.owner or "system"
        # As an operator's resolution does: the same failure later opens (and alerts) again.
        if not keep_key and row.kind != "CHECKSUM_MISMATCH":
            row.dedupe_key = None
    await session.flush()
    return len(rows)

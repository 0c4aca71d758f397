"""Exceptions an ops person must look at: open them once, list them, resolve them."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.adapters.db.models import ReconException
from bankfeeds.domain.ids import decode_cursor, encode_cursor, public_id
from bankfeeds.services import alerts
from bankfeeds.services.context import AppContext

#: Exception kinds that also page someone through the alert webhooks.
ALERTED = frozenset({"FILE_MISSING", "CHECKSUM_MISMATCH", "RUN_FAILED"})


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


async def list_exceptions(
    *,
    ctx: AppContext,
    state: str | None,
    kind: str | None,
    connector_pk: int | None,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """Exceptions, newest first, filtered."""
    query = select(ReconException).order_by(ReconException.id.desc()).limit(limit + 1)
    if state:
        query = query.where(ReconException.state == state)
    if kind:
        query = query.where(ReconException.kind == kind)
    if connector_pk:
        query = query.where(ReconException.connector_id == connector_pk)
    if cursor:
        query = query.where(ReconException.id < decode_cursor(cursor))
    async with ctx.sessions() as session:
        rows = list((await session.scalars(query)).all())
    page, more = rows[:limit], len(rows) > limit
    return {
        "exceptions": [exception_view(r) for r in page],
        "hasMore": more,
        "cursor": encode_cursor(page[-1].id) if more and page else None,
    }

"""The audit trail: every mutation, who made it and what changed, with secrets redacted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.core.redact import MASK, SECRET_FIELDS
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import AuditLog
from bankfeeds.storage.db.pages import paginate


def redact(value: Any) -> Any:
    """A copy of ``value`` with every secret field's value replaced by the mask."""
    if isinstance(value, dict):
        return {k: (MASK if k in SECRET_FIELDS else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Field-by-field ``{field: {from, to}}`` of what differs, secrets redacted."""
    out: dict[str, Any] = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key in SECRET_FIELDS:
            out[key] = {"from": MASK if old else None, "to": MASK if new else None}
        else:
            out[key] = {"from": redact(old), "to": redact(new)}
    return out


def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: str | None,
    diff: dict[str, Any] | None,
    now: datetime,
) -> None:
    """Add an audit entry to the caller's transaction, so it commits with the change."""
    session.add(
        AuditLog(
            at=now,
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            diff=redact(diff) if diff is not None else None,
        )
    )


async def list_entries(
    *, ctx: AppContext, target_id: str | None, cursor: str | None, limit: int
) -> dict[str, Any]:
    """Newest-first page of audit entries, optionally for one target."""
    query = select(AuditLog)
    if target_id:
        query = query.where(AuditLog.target_id == target_id)
    async with ctx.sessions() as session:
        page = await paginate(session, query, AuditLog.id, cursor=cursor, limit=limit)
    return page.body("entries", entry_view)


def entry_view(e: AuditLog) -> dict[str, Any]:
    """One audit entry as the API shows it."""
    return {
        "id": e.id,
        "at": e.at.isoformat(),
        "actor": e.actor,
        "action": e.action,
        "targetType": e.target_type,
        "targetId": e.target_id,
        "diff": e.diff,
    }

"""The health watch: records each connector's health and alerts when it turns CRITICAL or back."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from bankfeeds.alerts import outbox as alerts
from bankfeeds.core.ids import public_id
from bankfeeds.monitoring.health import health_many
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector


async def record_transitions(*, ctx: AppContext, now: datetime) -> int:
    """Store every live connector's health; return how many changed, alerting where due."""
    async with ctx.sessions() as session:
        rows = list(
            (await session.scalars(select(Connector).where(Connector.deleted_at.is_(None)))).all()
        )
        health = await health_many(session, ctx, rows)
    changed = 0
    async with ctx.sessions.begin() as session:
        for row in rows:
            current = health[row.id].health_status
            if current == row.health_status:
                continue
            # Conditional on the old value, so two workers record (and alert) a change once.
            result = await session.execute(
                update(Connector)
                .where(Connector.id == row.id)
                .where(
                    Connector.health_status.is_(None)
                    if row.health_status is None
                    else Connector.health_status == row.health_status
                )
                .values(health_status=current)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                continue
            changed += 1
            kind = alerts.health_transition(row.health_status, current)
            if kind is not None:
                cid = public_id("connector", row.id)
                await alerts.emit(
                    session,
                    ctx,
                    kind=kind,
                    key=f"{cid}:{now.isoformat()}",
                    payload={
                        "connectorId": cid,
                        "connectorName": row.name,
                        "provider": row.provider,
                        "from": row.health_status,
                        "to": current,
                        "reasons": list(health[row.id].reasons),
                    },
                )
    return changed

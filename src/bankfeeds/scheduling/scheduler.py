"""The scheduler: turns each connector's due cron slots into queued runs, idempotently.

Any number of schedulers may tick at once: ``UNIQUE(connector_id, scheduled_for)`` turns a slot
into at most one run, and an insert that loses the race is simply ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite

from bankfeeds.connectors.schedule import cycle_date_for, next_run
from bankfeeds.scheduling.planning import CatchUp, plan_slots
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector, ConnectorRun

_Key = tuple[str, str, str, datetime]


class Scheduler:
    """Enqueues scheduled runs; remembers each connector's next slot to keep ticks cheap."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._next: dict[int, tuple[_Key, datetime]] = {}

    def next_due(self) -> datetime | None:
        """The earliest next slot among the connectors seen at the last tick."""
        return min((due for _, due in self._next.values()), default=None)

    async def tick(self, now: datetime) -> int:
        """Queue the runs due at ``now``; returns how many this call inserted."""
        async with self.ctx.sessions() as session:
            connectors = (
                await session.execute(
                    select(
                        Connector.id,
                        Connector.schedule,
                        Connector.timezone,
                        Connector.target_cycle_rule,
                        Connector.created_at,
                        Connector.config,
                    ).where(Connector.status == "ACTIVE", Connector.deleted_at.is_(None))
                )
            ).all()
            last = dict(
                (
                    await session.execute(
                        select(ConnectorRun.connector_id, func.max(ConnectorRun.scheduled_for))
                        .where(ConnectorRun.scheduled_for.is_not(None))
                        .group_by(ConnectorRun.connector_id)
                    )
                ).all()
            )
        rows: list[dict[str, Any]] = []
        live = {row[0] for row in connectors}
        for gone in set(self._next) - live:  # paused or deleted since the last tick
            del self._next[gone]
        for cid, cron, tz, rule, created, config in connectors:
            after = last.get(cid) or created
            policy = cast(CatchUp, config.get("catchUp", "latest"))
            key: _Key = (cron, tz, policy, after)
            cached = self._next.get(cid)
            if cached is not None and cached[0] == key and cached[1] > now:
                continue
            for slot in plan_slots(cron, tz, after, now, policy):
                rows.append(
                    {
                        "connector_id": cid,
                        "scheduled_for": slot,
                        "trigger": "SCHEDULE",
                        "cycle_date": cycle_date_for(rule, slot, tz),
                        "status": "QUEUED",
                        "queued_at": now,
                        "requested_by": "scheduler",
                        "force": False,
                        "attempt": 1,
                    }
                )
            self._next[cid] = (key, next_run(cron, tz, now))
        return await self._insert(rows)

    async def _insert(self, rows: list[dict[str, Any]]) -> int:
        if not rows:
            return 0
        dialect = self.ctx.engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table = cast(Table, ConnectorRun.__table__)
        statement = (
            insert(table)
            .on_conflict_do_nothing(index_elements=["connector_id", "scheduled_for"])
            .returning(table.c.id)
        )
        inserted = 0
        async with self.ctx.sessions.begin() as session:
            conn = await session.connection()
            for start in range(0, len(rows), 500):
                result = await conn.execute(statement, rows[start : start + 500])
                inserted += len(result.all())
        return inserted

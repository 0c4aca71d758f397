"""Which scheduled slots to run after the last one enqueued, by catch-up policy (pure).

A slot is *on time* when it fell due within ``on_time`` before ``now``; older unrun slots are
*missed* (the scheduler was down, or the connector paused). ``latest`` runs only the newest slot,
``all`` runs every slot (at most ``limit``, the newest ones), ``none`` runs only on-time slots.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from bankfeeds.connectors.schedule import due_slots

CatchUp = Literal["latest", "all", "none"]


def slots_since(cron: str, tz: str, after: datetime, now: datetime, limit: int) -> list[datetime]:
    """The newest ``limit`` slots in ``(after, now]``, oldest first."""
    kept: list[datetime] = []
    cursor = after
    while True:
        batch = due_slots(cron, tz, cursor, now, limit)
        kept = (kept + batch)[-limit:]
        if len(batch) < limit:
            return kept
        cursor = batch[-1]


def plan_slots(
    cron: str,
    tz: str,
    after: datetime,
    now: datetime,
    policy: CatchUp,
    *,
    on_time: timedelta = timedelta(minutes=2),
    limit: int = 100,
) -> list[datetime]:
    """The slots after ``after`` that should become runs at ``now``."""
    slots = slots_since(cron, tz, after, now, limit)
    if policy == "all":
        return slots
    if policy == "latest":
        return slots[-1:]
    return [s for s in slots if now - s <= on_time]

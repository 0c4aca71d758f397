"""The Connectors page in a handful of queries: health, backlog and open exceptions per connector.

Health comes from ``monitoring.health.health_many`` (the same rules as the API, batched), and the
open-exception counts and in-progress flags are read for every listed connector at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.connectors.schedule import next_run
from bankfeeds.connectors.views import filtered_connectors
from bankfeeds.core.ids import public_id
from bankfeeds.monitoring.health import health_many
from bankfeeds.monitoring.health_rules import Health
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector, ConnectorRun, ReconException


@dataclass(frozen=True, slots=True)
class Card:
    """Everything one connector card shows."""

    id: str
    name: str
    type: str
    provider: str
    status: str
    host: str
    health: Health
    next_run_at: datetime | None
    open_exceptions: int
    running: bool


@dataclass(frozen=True, slots=True)
class Board:
    """The cards to show and the tab counts (All / Active / Paused) under the other filters."""

    cards: list[Card]
    counts: dict[str, int] = field(default_factory=dict)


async def _open_exceptions(session: AsyncSession, ids: list[int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for chunk in range(0, len(ids), 1000):
        rows = await session.execute(
            select(ReconException.connector_id, func.count())
            .where(ReconException.connector_id.in_(ids[chunk : chunk + 1000]))
            .where(ReconException.state == "OPEN")
            .group_by(ReconException.connector_id)
        )
        counts.update({int(owner): int(n) for owner, n in rows if owner is not None})
    return counts


async def _active(session: AsyncSession, ids: list[int]) -> set[int]:
    rows = await session.scalars(
        select(ConnectorRun.connector_id)
        .where(ConnectorRun.connector_id.in_(ids), ConnectorRun.status.in_(("QUEUED", "RUNNING")))
        .distinct()
    )
    return set(rows.all())


def _card(
    row: Connector, health: Health, upcoming: datetime | None, open_count: int, running: bool
) -> Card:
    return Card(
        id=public_id("connector", row.id),
        name=row.name,
        type=row.type,
        provider=row.provider,
        status=row.status,
        host=str(row.config.get("host") or row.config.get("baseUrl") or ""),
        health=health,
        next_run_at=upcoming if row.status == "ACTIVE" else None,
        open_exceptions=open_count,
        running=running,
    )


async def board(
    *,
    ctx: AppContext,
    status: str | None = None,
    provider: str | None = None,
    ctype: str | None = None,
    health: str | None = None,
    q: str | None = None,
    connector_pk: int | None = None,
) -> Board:
    """Cards for the connectors matching the filters, and the per-status counts."""
    now = ctx.clock()
    query = filtered_connectors(None, provider, ctype, q).order_by(Connector.name, Connector.id)
    if connector_pk is not None:
        query = query.where(Connector.id == connector_pk)
    async with ctx.sessions() as session:
        rows = list((await session.scalars(query)).all())
        ids = [r.id for r in rows]
        healths = await health_many(session, ctx, rows)
        open_counts = await _open_exceptions(session, ids)
        active = await _active(session, ids) if ids else set()
    next_runs = {r.id: next_run(r.schedule, r.timezone, now) for r in rows if r.status == "ACTIVE"}
    cards = [
        _card(r, healths[r.id], next_runs.get(r.id), open_counts.get(r.id, 0), r.id in active)
        for r in rows
    ]
    if health:
        cards = [c for c in cards if c.health.health_status == health]
    counts = {
        "ALL": len(cards),
        "ACTIVE": sum(c.status == "ACTIVE" for c in cards),
        "PAUSED": sum(c.status == "PAUSED" for c in cards),
    }
    if status:
        cards = [c for c in cards if c.status == status]
    return Board(cards=cards, counts=counts)

"""Connectors as operators watch them: each with its health, next run and most recent runs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bankfeeds.connectors.views import RECENT_RUNS, connector_view, filtered_connectors, run_view
from bankfeeds.core.errors import NotFound
from bankfeeds.core.ids import parse_id
from bankfeeds.monitoring.health import health_many, health_view
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector, ConnectorRun
from bankfeeds.storage.db.pages import paginate


async def list_connectors(
    *,
    ctx: AppContext,
    status: str | None = None,
    provider: str | None = None,
    ctype: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """One page of connectors in id order, with the total matching the filters."""
    base = filtered_connectors(status, provider, ctype, q)
    async with ctx.sessions() as session:
        total = await session.scalar(select(func.count()).select_from(base.subquery()))
        page = await paginate(
            session, base, Connector.id, cursor=cursor, limit=limit, newest_first=False
        )
        health = await health_many(session, ctx, list(page.rows))
    now = ctx.clock()

    def view(row: Connector) -> dict[str, Any]:
        shown = connector_view(ctx, row, now)
        shown["health"] = health_view(health[row.id], shown["nextRunAt"])
        return shown

    return {**page.body("connectors", view), "total": total or 0}


async def get_connector(*, ctx: AppContext, connector_id: str) -> dict[str, Any]:
    """A connector with its health and its most recent runs."""
    pk = parse_id("connector", connector_id)
    async with ctx.sessions() as session:
        row = await session.get(Connector, pk)
        if row is None or row.deleted_at is not None:
            raise NotFound(f"No connector with id {connector_id!r}.")
        health = (await health_many(session, ctx, [row]))[row.id]
        runs = (
            await session.scalars(
                select(ConnectorRun)
                .where(ConnectorRun.connector_id == pk)
                .order_by(ConnectorRun.id.desc())
                .limit(RECENT_RUNS)
            )
        ).all()
    view = connector_view(ctx, row, ctx.clock())
    view["health"] = health_view(health, view["nextRunAt"])
    view["recentRuns"] = [run_view(r) for r in runs]
    return view

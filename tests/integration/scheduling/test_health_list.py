"""The connector list carries every connector's health in a constant number of queries."""

from __future__ import annotations

from sqlalchemy import event
from tests.integration.scheduling.helpers import add_connector

from bankfeeds.monitoring.connectors import list_connectors
from bankfeeds.storage.context import AppContext


async def _statements(ctx: AppContext, limit: int) -> tuple[int, dict[str, object]]:
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(ctx.engine.sync_engine, "before_cursor_execute", count)
    try:
        page = await list_connectors(ctx=ctx, limit=limit)
    finally:
        event.remove(ctx.engine.sync_engine, "before_cursor_execute", count)
    return len([s for s in seen if s.lstrip().upper().startswith("SELECT")]), page


async def test_list_has_health_without_n_plus_one(ctx: AppContext) -> None:
    for i in range(3):
        await add_connector(ctx, f"c{i}")
    few, page = await _statements(ctx, 50)
    assert [c["health"]["healthStatus"] for c in page["connectors"]] == ["NEVER_RUN"] * 3  # type: ignore[index]
    for i in range(3, 30):
        await add_connector(ctx, f"c{i}")
    many, page = await _statements(ctx, 50)
    assert len(page["connectors"]) == 30  # type: ignore[arg-type]
    assert many == few

"""Health transitions are recorded once and alerted: turning CRITICAL, and recovering."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from tests.integration.scheduling.helpers import add_connector

from bankfeeds.alerts.rules import summary
from bankfeeds.core.config import Settings, Webhook
from bankfeeds.monitoring.health_watch import record_transitions
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import AlertEvent, Connector, ConnectorRun

NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
async def alerting(settings: Settings) -> AsyncIterator[AppContext]:
    """A context with one (never contacted) webhook, so alerts are queued."""
    hooks = [Webhook(url=SecretStr("http://127.0.0.1:9/hook"), format="json")]
    ctx = AppContext.build(settings.model_copy(update={"alert_webhooks": hooks}), clock=lambda: NOW)
    yield ctx
    await ctx.close()


async def _finished(ctx: AppContext, pk: int, status: str, hours_ago: float) -> None:
    at = NOW - timedelta(hours=hours_ago)
    async with ctx.sessions.begin() as session:
        session.add(
            ConnectorRun(
                connector_id=pk,
                cycle_date=date(2025, 1, 9),
                trigger="MANUAL",
                status=status,
                queued_at=at,
                started_at=at,
                finished_at=at + timedelta(seconds=2),
                duration_ms=2000,
                error_code=None if status == "SUCCESS" else "source-timeout",
            )
        )


async def _alerts(ctx: AppContext) -> list[str]:
    async with ctx.sessions() as session:
        return list((await session.scalars(select(AlertEvent.kind).order_by(AlertEvent.id))).all())


async def test_critical_and_recovery_are_alerted_once_each(alerting: AppContext) -> None:
    ctx = alerting
    pk = await add_connector(ctx, "watched", created_at=NOW - timedelta(hours=6))
    assert await record_transitions(ctx=ctx, now=NOW) == 1  # None -> NEVER_RUN, no alert
    assert await _alerts(ctx) == []
    for hours in (3, 2, 1):
        await _finished(ctx, pk, "FAILED", hours)
    assert await record_transitions(ctx=ctx, now=NOW) == 1
    assert await record_transitions(ctx=ctx, now=NOW) == 0
    assert await _alerts(ctx) == ["HEALTH_CRITICAL"]
    for minutes in (30, 20, 10):
        await _finished(ctx, pk, "SUCCESS", minutes / 60)
    assert await record_transitions(ctx=ctx, now=NOW) == 1
    async with ctx.sessions() as session:
        stored = await session.scalar(select(Connector.health_status).where(Connector.id == pk))
    assert stored in {"HEALTHY", "WARNING"}
    assert await _alerts(ctx) == ["HEALTH_CRITICAL", "HEALTH_RECOVERED"]
    async with ctx.sessions() as session:
        payload = await session.scalar(select(AlertEvent.payload).order_by(AlertEvent.id).limit(1))
    assert payload is not None
    assert "connector watched (conn_" in summary("HEALTH_CRITICAL", payload)

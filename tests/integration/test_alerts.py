"""Alerts: written in the event's transaction, delivered once to real local webhooks, retried."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from tests.support.receiver import Receiver

from bankfeeds.alerts.outbox import AlertDispatcher, emit
from bankfeeds.core.config import Settings, Webhook
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import AlertEvent

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PAYLOAD = {"connectorId": "conn_1", "connectorName": "Axis daily", "runId": "run_7"}

MakeCtx = Callable[..., Awaitable[AppContext]]


@pytest.fixture
async def make_ctx(settings: Settings) -> AsyncIterator[MakeCtx]:
    """Contexts over the test database with the given webhooks (and other settings)."""
    made: list[AppContext] = []

    async def make(hooks: list[tuple[str, str]], **changes: Any) -> AppContext:
        webhooks = [Webhook(url=SecretStr(url), format=fmt) for url, fmt in hooks]
        changed = settings.model_copy(update={"alert_webhooks": webhooks, **changes})
        ctx = AppContext.build(changed, clock=lambda: NOW)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        await ctx.close()


async def _emit(ctx: AppContext, key: str, kind: str = "RUN_FAILED", **payload: Any) -> bool:
    async with ctx.sessions.begin() as session:
        return await emit(session, ctx, kind=kind, key=key, payload={**PAYLOAD, **payload})


async def _rows(ctx: AppContext) -> list[AlertEvent]:
    async with ctx.sessions() as session:
        return list((await session.scalars(select(AlertEvent).order_by(AlertEvent.id))).all())


async def test_json_alert_is_delivered_once(make_ctx: MakeCtx) -> None:
    async with Receiver() as hook:
        ctx = await make_ctx([(f"{hook.url}/hook", "json")])
        assert await _emit(ctx, "run_7")
        dispatcher = AlertDispatcher(ctx)
        assert await dispatcher.deliver_due(NOW) == 1
        assert await dispatcher.deliver_due(NOW + timedelta(hours=2)) == 0
    assert hook.bodies("/hook") == [
        {"kind": "RUN_FAILED", "key": "run_7", "payload": PAYLOAD, "createdAt": NOW.isoformat()}
    ]
    assert hook.requests[0].headers["content-type"] == "application/json"
    (row,) = await _rows(ctx)
    assert (row.delivered_at, row.attempts, row.last_error) == (NOW, 1, None)


async def test_failing_receiver_gets_it_after_a_retry(make_ctx: MakeCtx) -> None:
    async with Receiver(statuses=[500]) as hook:
        ctx = await make_ctx([(f"{hook.url}/secret-token-path", "json")])
        await _emit(ctx, "run_7")
        dispatcher = AlertDispatcher(ctx, base_delay=timedelta(seconds=30))
        assert await dispatcher.deliver_due(NOW) == 0
        (row,) = await _rows(ctx)
        assert row.attempts == 1
        assert row.next_attempt_at == NOW + timedelta(seconds=30)
        assert row.last_error is not None and "HTTP 500" in row.last_error
        assert "secret-token-path" not in row.last_error  # webhook paths can hold tokens
        assert await dispatcher.deliver_due(NOW + timedelta(seconds=29)) == 0  # not due yet
        assert await dispatcher.deliver_due(NOW + timedelta(seconds=30)) == 1
        assert await dispatcher.deliver_due(NOW + timedelta(days=1)) == 0
    assert len(hook.requests) == 2  # one refused, one accepted, nothing after
    (row,) = await _rows(ctx)
    assert row.delivered_at == NOW + timedelta(seconds=30)
    assert row.last_error is None


async def test_gives_up_after_max_attempts_keeping_the_error(make_ctx: MakeCtx) -> None:
    async with Receiver(statuses=[503] * 10) as hook:
        ctx = await make_ctx([(hook.url, "json")])
        await _emit(ctx, "run_7")
        dispatcher = AlertDispatcher(ctx, max_attempts=3, base_delay=timedelta(seconds=10))
        at = NOW
        for delay in (10, 20, 0):  # backoff doubles; after the third attempt it stops
            assert await dispatcher.deliver_due(at) == 0
            (row,) = await _rows(ctx)
            expected = at + timedelta(seconds=delay) if delay else None
            assert row.next_attempt_at == expected
            at += timedelta(hours=1)
        assert await dispatcher.deliver_due(at + timedelta(days=30)) == 0
    assert len(hook.requests) == 3
    (row,) = await _rows(ctx)
    assert row.attempts == 3 and row.delivered_at is None
    assert row.last_error is not None and "HTTP 503" in row.last_error


async def test_hanging_receiver_times_out(make_ctx: MakeCtx) -> None:
    async with Receiver(statuses=[0]) as hook:
        ctx = await make_ctx([(hook.url, "json")])
        await _emit(ctx, "run_7")
        dispatcher = AlertDispatcher(ctx, timeout_seconds=0.3)
        assert await dispatcher.deliver_due(NOW) == 0
    (row,) = await _rows(ctx)
    assert row.last_error is not None and "did not answer within 0.3 s" in row.last_error


async def test_duplicate_emit_is_one_row_and_keeps_the_transaction(make_ctx: MakeCtx) -> None:
    ctx = await make_ctx([("http://127.0.0.1:9/never", "json")])
    async with ctx.sessions.begin() as session:
        assert await emit(session, ctx, kind="FILE_MISSING", key="conn_1:2026-03-01", payload={})
        assert not await emit(
            session, ctx, kind="FILE_MISSING", key="conn_1:2026-03-01", payload={}
        )
        # The same key under another kind is another event.
        assert await emit(session, ctx, kind="HEALTH_CRITICAL", key="conn_1:2026-03-01", payload={})
    assert not await _emit(ctx, "conn_1:2026-03-01", kind="FILE_MISSING")
    assert [r.kind for r in await _rows(ctx)] == ["FILE_MISSING", "HEALTH_CRITICAL"]


async def test_rolled_back_event_has_no_alert(make_ctx: MakeCtx) -> None:
    ctx = await make_ctx([("http://127.0.0.1:9/never", "json")])

    async def event_that_fails() -> None:
        async with ctx.sessions.begin() as session:
            await emit(session, ctx, kind="RUN_FAILED", key="run_1", payload={})
            raise RuntimeError("the event's own work failed")

    with pytest.raises(RuntimeError):
        await event_that_fails()
    assert await _rows(ctx) == []


async def test_slack_format_posts_one_readable_line(make_ctx: MakeCtx) -> None:
    async with Receiver() as hook:
        ctx = await make_ctx([(f"{hook.url}/slack", "slack"), (f"{hook.url}/json", "json")])
        await _emit(ctx, "run_7", message="Connection refused\nby host", attempts=5)
        assert await AlertDispatcher(ctx).deliver_due(NOW) == 1
    (slack,) = hook.bodies("/slack")
    assert slack == {
        "text": "[bankfeeds] Run failed after its last retry · connector Axis daily (conn_1)"
        " · run run_7 · attempts 5 · Connection refused by host"
    }
    assert len(hook.bodies("/json")) == 1


async def test_retry_skips_the_webhook_that_already_has_it(make_ctx: MakeCtx) -> None:
    async with Receiver() as good, Receiver(statuses=[500]) as flaky:
        ctx = await make_ctx([(good.url, "json"), (flaky.url, "json")])
        await _emit(ctx, "run_7")
        dispatcher = AlertDispatcher(ctx)
        assert await dispatcher.deliver_due(NOW) == 0
        assert await dispatcher.deliver_due(NOW + timedelta(minutes=5)) == 1
    assert (len(good.requests), len(flaky.requests)) == (1, 2)


async def test_disabled_alerts_do_nothing(make_ctx: MakeCtx) -> None:
    async with Receiver() as hook:
        ctx = await make_ctx([(hook.url, "json")], alerts_enabled=False)
        assert not await _emit(ctx, "run_7")
        assert await AlertDispatcher(ctx).deliver_due(NOW) == 0
    assert await _rows(ctx) == []
    assert hook.requests == []


async def test_dispatcher_without_webhooks_leaves_the_outbox_alone(make_ctx: MakeCtx) -> None:
    ctx = await make_ctx([("http://127.0.0.1:9/never", "json")])
    await _emit(ctx, "run_7")
    unconfigured = await make_ctx([])
    assert not await _emit(unconfigured, "run_8")  # nowhere to send: nothing stored
    assert await AlertDispatcher(unconfigured).deliver_due(NOW) == 0
    (row,) = await _rows(ctx)
    assert (row.attempts, row.delivered_at) == (0, None)


async def test_concurrent_dispatchers_post_each_alert_once(make_ctx: MakeCtx) -> None:
    async with Receiver(delay=0.01) as hook:
        one = await make_ctx([(hook.url, "json")])
        two = await make_ctx([(hook.url, "json")])  # its own engine and connections
        for n in range(40):
            await _emit(one, f"run_{n}")
        dispatchers = [AlertDispatcher(c, batch_size=3) for c in (one, two, one, two)]
        total = 0
        for _ in range(40):
            counts = await asyncio.gather(*(d.deliver_due(NOW) for d in dispatchers))
            total += sum(counts)
            if total == 40:
                break
    keys = sorted(body["key"] for body in hook.bodies())
    assert keys == sorted(f"run_{n}" for n in range(40))
    async with one.sessions() as session:
        attempts = await session.scalar(select(func.max(AlertEvent.attempts)))
    assert attempts == 1


async def test_run_forever_delivers_and_stops(make_ctx: MakeCtx) -> None:
    async with Receiver() as hook:
        ctx = await make_ctx([(hook.url, "json")])
        stop = asyncio.Event()
        task = asyncio.create_task(AlertDispatcher(ctx, poll_seconds=0.05).run_forever(stop))
        await _emit(ctx, "run_7")
        async with asyncio.timeout(10):
            await hook.wait_for(1)
        stop.set()
        await asyncio.wait_for(task, 5)
    assert [b["key"] for b in hook.bodies()] == ["run_7"]

"""The scheduler: one run per slot however many schedulers tick, catch-up, pause, cycle dates."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from tests.integration.scheduling.helpers import add_connector, runs_of

from bankfeeds.connectors import service as connectors
from bankfeeds.connectors.model import ConnectorStatus
from bankfeeds.scheduling.scheduler import Scheduler
from bankfeeds.storage.context import AppContext

CREATED = datetime(2025, 1, 5, 10, 0, tzinfo=UTC)
SLOT = datetime(2025, 1, 10, 13, 30, tzinfo=UTC)  # 19:00 in Kolkata


async def test_a_slot_becomes_one_run_whatever_the_number_of_schedulers(ctx: AppContext) -> None:
    pk = await add_connector(ctx, "a", created_at=SLOT - timedelta(hours=2))
    assert await Scheduler(ctx).tick(SLOT - timedelta(seconds=1)) == 0
    now = SLOT + timedelta(seconds=3)
    results = await asyncio.gather(*(Scheduler(ctx).tick(now) for _ in range(5)))
    assert sum(results) == 1
    (run,) = await runs_of(ctx, pk)
    assert (run.trigger, run.status, run.scheduled_for) == ("SCHEDULE", "QUEUED", SLOT)
    assert run.cycle_date == date(2025, 1, 9)  # targetCycleRule yesterday, in Kolkata
    assert await Scheduler(ctx).tick(now + timedelta(minutes=5)) == 0


async def test_today_rule_fetches_the_slot_day(ctx: AppContext) -> None:
    pk = await add_connector(
        ctx, "t", created_at=SLOT - timedelta(hours=2), targetCycleRule="today"
    )
    await Scheduler(ctx).tick(SLOT + timedelta(seconds=1))
    assert [r.cycle_date for r in await runs_of(ctx, pk)] == [date(2025, 1, 10)]


async def test_catch_up_policies_after_downtime(ctx: AppContext) -> None:
    latest = await add_connector(ctx, "latest", created_at=CREATED)
    every = await add_connector(ctx, "all", created_at=CREATED, catchUp="all")
    none = await add_connector(ctx, "none", created_at=CREATED, catchUp="none")
    now = datetime(2025, 1, 9, 12, 0, tzinfo=UTC)  # slots of the 5th to the 8th were missed
    await Scheduler(ctx).tick(now)
    assert [r.cycle_date for r in await runs_of(ctx, latest)] == [date(2025, 1, 7)]
    assert [r.cycle_date for r in await runs_of(ctx, every)] == [
        date(2025, 1, d) for d in (4, 5, 6, 7)
    ]
    assert await runs_of(ctx, none) == []
    # The next on-time slot runs under every policy, once.
    on_time = datetime(2025, 1, 9, 13, 30, 20, tzinfo=UTC)
    scheduler = Scheduler(ctx)
    await scheduler.tick(on_time)
    await scheduler.tick(on_time + timedelta(seconds=30))
    for pk in (latest, every, none):
        assert (await runs_of(ctx, pk))[-1].cycle_date == date(2025, 1, 8)
    assert len(await runs_of(ctx, none)) == 1


async def test_paused_connector_gets_no_runs_and_pausing_cancels_queued(
    ctx: AppContext,
) -> None:
    pk = await add_connector(ctx, "p", created_at=CREATED, catchUp="all")
    await Scheduler(ctx).tick(datetime(2025, 1, 7, 12, tzinfo=UTC))
    assert {r.status for r in await runs_of(ctx, pk)} == {"QUEUED"}
    await connectors.set_status(
        ctx=ctx, connector_id=f"conn_{pk}", status=ConnectorStatus.PAUSED, actor="t"
    )
    assert {r.status for r in await runs_of(ctx, pk)} == {"CANCELLED"}
    count = len(await runs_of(ctx, pk))
    await Scheduler(ctx).tick(datetime(2025, 1, 9, 13, 31, tzinfo=UTC))
    assert len(await runs_of(ctx, pk)) == count


async def test_dst_days_in_new_york_and_berlin(ctx: AppContext) -> None:
    ny = await add_connector(
        ctx,
        "ny",
        created_at=datetime(2025, 3, 8, 12, tzinfo=UTC),
        schedule="30 2 * * *",
        timezone="America/New_York",
        catchUp="all",
    )
    berlin = await add_connector(
        ctx,
        "be",
        created_at=datetime(2025, 10, 25, 12, tzinfo=UTC),
        schedule="30 2 * * *",
        timezone="Europe/Berlin",
        catchUp="all",
    )
    scheduler = Scheduler(ctx)
    await scheduler.tick(datetime(2025, 3, 10, 0, tzinfo=UTC))
    await scheduler.tick(datetime(2025, 10, 27, 0, tzinfo=UTC))
    march = [r.scheduled_for for r in await runs_of(ctx, ny)]
    assert [s for s in march if s and s < datetime(2025, 3, 10, tzinfo=UTC)] == [
        datetime(2025, 3, 9, 7, 0, tzinfo=UTC),  # 02:30 does not exist: 03:00 EDT, once
    ]
    assert [r.scheduled_for for r in await runs_of(ctx, berlin)] == [
        datetime(2025, 10, 26, 0, 30, tzinfo=UTC),  # 02:30 happens twice: the first, once
    ]

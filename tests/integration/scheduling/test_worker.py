"""Claims, leases, retries and the expectation monitor, with the clock passed in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select, update
from tests.integration.scheduling.helpers import add_connector, runs_of

from bankfeeds.days import expectations
from bankfeeds.pipeline import run as ingest
from bankfeeds.scheduling import runs
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import ConnectorRun, IngestedFile, ReconException

NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)


def _freeze(ctx: AppContext, now: datetime) -> None:
    ctx.clock = lambda: now


async def _queue(ctx: AppContext, pk: int, days: list[date]) -> list[int]:
    queued = await runs.queue_runs(
        ctx=ctx,
        connector_id=f"conn_{pk}",
        dates=days,
        trigger="BACKFILL",
        force=False,
        actor="t",
        job_id="job",
    )
    return [r.id for r in queued]


async def test_claims_take_the_oldest_run_of_each_connector_once(ctx: AppContext) -> None:
    _freeze(ctx, NOW)
    a, b = await add_connector(ctx, "a"), await add_connector(ctx, "b")
    a_runs = await _queue(ctx, a, [date(2025, 1, d) for d in (1, 2, 3)])
    b_runs = await _queue(ctx, b, [date(2025, 1, 1)])
    first = await runs.claim_batch(ctx=ctx, worker_id="w1", limit=10)
    assert sorted(first) == sorted([a_runs[0], b_runs[0]])
    assert await runs.claim_batch(ctx=ctx, worker_id="w2", limit=10) == []
    # a's next day starts only after its first run ends.
    await runs.finish(ctx=ctx, run_pk=a_runs[0], worker_id="w1", status="SUCCESS", retryable=False)
    assert await runs.claim_batch(ctx=ctx, worker_id="w2", limit=10) == [a_runs[1]]


async def test_expired_lease_is_requeued_and_the_old_holder_loses_it(ctx: AppContext) -> None:
    _freeze(ctx, NOW)
    pk = await add_connector(ctx, "a")
    (run_pk,) = await _queue(ctx, pk, [date(2025, 1, 1)])
    assert await runs.claim_batch(ctx=ctx, worker_id="dead", limit=1) == [run_pk]
    assert await runs.requeue_expired(ctx=ctx) == 0
    _freeze(ctx, NOW + timedelta(seconds=ctx.settings.lease_seconds + 1))
    assert await runs.requeue_expired(ctx=ctx) == 1
    assert await runs.claim_batch(ctx=ctx, worker_id="alive", limit=1) == [run_pk]
    assert not await runs.heartbeat(
        ctx=ctx, run_pk=run_pk, worker_id="dead", bytes_downloaded=0, bytes_expected=0
    )
    assert not await runs.finish(
        ctx=ctx, run_pk=run_pk, worker_id="dead", status="FAILED", retryable=True
    )
    assert await runs.heartbeat(
        ctx=ctx, run_pk=run_pk, worker_id="alive", bytes_downloaded=5, bytes_expected=9
    )


async def test_retryable_failure_is_retried_with_backoff_then_gives_up(ctx: AppContext) -> None:
    _freeze(ctx, NOW)
    pk = await add_connector(
        ctx, "flaky", retry={"maxAttempts": 3, "baseSeconds": 10, "factor": 2, "maxSeconds": 60}
    )
    (first,) = await _queue(ctx, pk, [date(2025, 1, 9)])
    now = NOW
    for attempt in (1, 2, 3):
        claimed = await runs.claim_batch(ctx=ctx, worker_id="w", limit=1)
        assert len(claimed) == 1
        await ingest.execute(ctx, claimed[0], "w")  # port 9: connection refused
        history = await runs_of(ctx, pk)
        done = history[attempt - 1]
        assert (done.status, done.error_code) == ("FAILED", "source-unreachable")
        if attempt < 3:
            retry = history[attempt]
            assert (retry.trigger, retry.attempt, retry.parent_run_id) == (
                "RETRY",
                attempt + 1,
                first,
            )
            assert retry.not_before is not None
            assert now <= retry.not_before <= now + timedelta(seconds=10 * 2 ** (attempt - 1))
            # Not claimable before its time.
            assert await runs.claim_batch(ctx=ctx, worker_id="w", limit=1) == []
            now = retry.not_before
            _freeze(ctx, now)
    assert len(await runs_of(ctx, pk)) == 3
    async with ctx.sessions() as session:
        kinds = (await session.scalars(select(ReconException.kind))).all()
    assert kinds == ["RUN_FAILED"]


async def test_unfixable_failure_opens_an_exception_at_once(ctx: AppContext) -> None:
    _freeze(ctx, NOW)
    pk = await add_connector(ctx, "bad")
    (run_pk,) = await _queue(ctx, pk, [date(2025, 1, 9)])
    await runs.claim_batch(ctx=ctx, worker_id="w", limit=1)
    async with ctx.sessions.begin() as session:
        await session.execute(
            update(ConnectorRun).where(ConnectorRun.id == run_pk).values(error_code="x")
        )
    await runs.finish(
        ctx=ctx,
        run_pk=run_pk,
        worker_id="w",
        status="FAILED",
        retryable=False,
        error_code="authentication-failed",
        error_message="The server refused the credentials.",
    )
    assert len(await runs_of(ctx, pk)) == 1
    async with ctx.sessions() as session:
        exc = (await session.scalars(select(ReconException))).one()
    assert exc.kind == "RUN_FAILED" and "cannot be fixed by retrying" in exc.message


async def test_file_missing_opens_once_after_cutoff_and_resolves_on_arrival(
    ctx: AppContext,
) -> None:
    created = datetime(2025, 1, 7, 3, 0, tzinfo=UTC)  # 08:30 in Kolkata
    pk = await add_connector(ctx, "watched", created_at=created)
    # A 'yesterday' connector fetches day D on D+1: day 6's file is due on the 7th at
    # 18:00 + 2 h IST (14:30 UTC), after the connector was created, so it is expected.
    assert await expectations.check(ctx=ctx, now=datetime(2025, 1, 7, 14, 29, tzinfo=UTC)) == 0
    at = datetime(2025, 1, 7, 14, 31, tzinfo=UTC)
    assert await expectations.check(ctx=ctx, now=at) == 1
    assert await expectations.check(ctx=ctx, now=at + timedelta(minutes=5)) == 0
    later = datetime(2025, 1, 10, 15, 0, tzinfo=UTC)
    assert await expectations.check(ctx=ctx, now=later) == 3  # the 7th, 8th and 9th
    async with ctx.sessions.begin() as session:
        arrived = IngestedFile(
            connector_id=pk,
            provider="AXIS",
            cycle_date=date(2025, 1, 8),
            remote_name="AXIS_RECON_20250108.csv",
            remote_path="/upload/x",
            remote_size=1,
            sha256="a" * 64,
            size=1,
            status="DOWNLOADED",
            created_at=later,
            updated_at=later,
        )
        session.add(arrived)
        await session.flush()
        await expectations.resolve_missing(session, arrived, now=later)
    async with ctx.sessions() as session:
        states = dict(
            (
                await session.execute(
                    select(ReconException.cycle_date, ReconException.state).where(
                        ReconException.kind == "FILE_MISSING"
                    )
                )
            ).all()
        )
        open_count = await session.scalar(
            select(func.count()).where(ReconException.state == "OPEN")
        )
    assert states == {
        date(2025, 1, 6): "OPEN",
        date(2025, 1, 7): "OPEN",
        date(2025, 1, 8): "RESOLVED",
        date(2025, 1, 9): "OPEN",
    }
    assert open_count == 3
    assert await expectations.check(ctx=ctx, now=later + timedelta(hours=1)) == 0

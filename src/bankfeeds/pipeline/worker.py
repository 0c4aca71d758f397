"""A worker: scheduler, expectation monitor, reaper and executor in one loop.

Several workers, in one process or on several machines, coordinate only through the database:
claims use row locks, leases are renewed by heartbeat, and a run whose lease expired is queued
again by whichever worker notices first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Coroutine
from typing import Any

from bankfeeds.alerts.outbox import AlertDispatcher
from bankfeeds.days import expectations
from bankfeeds.ingest import staging
from bankfeeds.monitoring import health_watch
from bankfeeds.pipeline import handoff
from bankfeeds.pipeline import run as ingest
from bankfeeds.recon import jobs as recon
from bankfeeds.recon import run as recon_run
from bankfeeds.scheduling import runs
from bankfeeds.scheduling.scheduler import Scheduler
from bankfeeds.storage.context import AppContext

log = logging.getLogger(__name__)
EXPECTATIONS_EVERY = 60.0


class Worker:
    """Claims and executes runs; with ``schedule`` it also enqueues scheduled runs."""

    def __init__(
        self,
        ctx: AppContext,
        *,
        concurrency: int | None = None,
        poll_seconds: float = 1.0,
        schedule: bool = False,
    ) -> None:
        self.ctx = ctx
        self.worker_id = runs.new_worker_id()
        self.concurrency = concurrency or ctx.settings.worker_concurrency
        self.poll_seconds = poll_seconds
        self.scheduler = Scheduler(ctx) if schedule else None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._last_tick = self._last_check = float("-inf")
        self._stop = asyncio.Event()
        self._alerts_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop, and the alert dispatcher beside it."""
        self._loop_task = asyncio.create_task(self._loop(), name=f"bankfeeds-{self.worker_id}")
        self._alerts_task = asyncio.create_task(AlertDispatcher(self.ctx).run_forever(self._stop))

    def wake(self) -> None:
        """Look for queued runs now rather than at the next poll."""
        self._wake.set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` as a tracked task that :meth:`stop` waits for."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def execute(self, run_pk: int) -> asyncio.Task[None]:
        """Execute a run this worker holds the lease of."""
        return self.spawn(ingest.execute(self.ctx, run_pk, self.worker_id))

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._wake.set()  # a finished run may unblock the next queued run of its connector

    async def _loop(self) -> None:
        while True:
            try:
                await self.step()
            except Exception:
                log.exception("worker step failed; trying again", extra={"worker": self.worker_id})
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._sleep_seconds())

    def _sleep_seconds(self) -> float:
        """Until the next poll, or sooner when a scheduled slot falls due before it."""
        due = self.scheduler.next_due() if self.scheduler is not None else None
        if due is None:
            return self.poll_seconds
        until = (due - self.ctx.clock()).total_seconds()
        return max(0.0, min(self.poll_seconds, until))

    async def step(self) -> None:
        """One round: reap, schedule and check expectations when due, claim runs and recon jobs."""
        await runs.requeue_expired(ctx=self.ctx)
        clock = time.monotonic()
        if self.scheduler is not None:
            now, due = self.ctx.clock(), self.scheduler.next_due()
            periodic = clock - self._last_tick >= self.ctx.settings.scheduler_tick_seconds
            if periodic or (due is not None and due <= now):
                self._last_tick = clock
                await self.scheduler.tick(now)
            if clock - self._last_check >= EXPECTATIONS_EVERY:
                self._last_check = clock
                await expectations.check(ctx=self.ctx, now=self.ctx.clock())
                await health_watch.record_transitions(ctx=self.ctx, now=self.ctx.clock())
                await handoff.sweep_stranded(self.ctx)
                await staging.sweep(self.ctx)
        free = self.concurrency - len(self._tasks)
        if free > 0:
            for run_pk in await runs.claim_batch(
                ctx=self.ctx, worker_id=self.worker_id, limit=free
            ):
                self.execute(run_pk)
        if self.concurrency > len(self._tasks):  # recon jobs share the worker's slots with runs
            for job_pk in await recon.claim_jobs(self.ctx, limit=1):
                self.spawn(recon_run.run_job(self.ctx, job_pk))

    async def stop(self, grace_seconds: float = 30.0) -> None:
        """Stop claiming, let running work finish within the grace period, then release it."""
        self._stop.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        if self._alerts_task is not None:
            await asyncio.gather(self._alerts_task, return_exceptions=True)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_seconds)
            for task in pending:
                task.cancel()  # the run releases itself back to the queue
            await asyncio.gather(*pending, return_exceptions=True)


async def run_until_signalled(
    ctx: AppContext, *, schedule: bool, grace_seconds: float = 30.0
) -> None:
    """Run a worker until SIGTERM or SIGINT, then stop claiming and finish or release its runs."""
    worker = Worker(ctx, schedule=schedule)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker.start()
    log.info("worker started", extra={"worker": worker.worker_id, "schedule": schedule})
    try:
        await stop.wait()
    finally:
        log.info("worker stopping", extra={"worker": worker.worker_id})
        await worker.stop(grace_seconds)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)

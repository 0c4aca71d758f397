"""The in-process worker: executes queued runs, oldest first, one per connector at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from sqlalchemy import func, select

from bankfeeds.adapters.db.models import ConnectorRun
from bankfeeds.services import ingest, runs
from bankfeeds.services.context import AppContext

log = logging.getLogger(__name__)


class Worker:
    """Claims QUEUED runs and executes them; also runs ad-hoc tasks (run-now) it must track."""

    def __init__(self, ctx: AppContext, *, concurrency: int = 4, poll_seconds: float = 1.0) -> None:
        self.ctx = ctx
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start polling for queued runs."""
        self._loop_task = asyncio.create_task(self._loop(), name="bankfeeds-worker")

    def wake(self) -> None:
        """Look for queued runs now rather than at the next poll."""
        self._wake.set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` as a tracked task that :meth:`stop` waits for."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._wake.set()  # a finished run may unblock the next queued run of its connector

    async def _loop(self) -> None:
        while True:
            try:
                await runs.fail_expired(ctx=self.ctx)
                await self._claim_some()
            except Exception:
                log.exception("worker poll failed; trying again")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def _claim_some(self) -> None:
        free = self.concurrency - len(self._tasks)
        if free <= 0:
            return
        async with self.ctx.sessions() as session:
            # The oldest queued run of each connector: backfills run in date order.
            heads = (
                await session.scalars(
                    select(func.min(ConnectorRun.id))
                    .where(ConnectorRun.status == "QUEUED")
                    .group_by(ConnectorRun.connector_id)
                    .order_by(func.min(ConnectorRun.id))
                    .limit(free)
                )
            ).all()
        for run_pk in heads:
            if await runs.claim(ctx=self.ctx, run_pk=run_pk):
                self.spawn(ingest.execute(self.ctx, run_pk))

    async def stop(self, grace_seconds: float = 30.0) -> None:
        """Stop claiming, let running work finish within the grace period, then cancel the rest."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

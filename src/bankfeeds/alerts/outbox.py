"""Alerts through a transactional outbox: ``emit`` writes a row with its event, a dispatcher sends.

``emit`` inserts into ``alert_event`` inside the caller's transaction, so an alert exists exactly
when its event committed, and its unique ``dedupe_key`` makes a repeated event one alert. The
:class:`AlertDispatcher` runs beside the worker loop, never inside a run: it claims due rows
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, an atomic conditional UPDATE on SQLite) under a short
lease, posts them to every webhook, and records delivery, or a backoff, or that it gave up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.alerts import webhooks
from bankfeeds.alerts.rules import AlertKind, health_transition, retry_delay, webhook_body
from bankfeeds.core.config import Webhook
from bankfeeds.core.errors import WebhookFailed
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.engine import is_postgres
from bankfeeds.storage.db.models import AlertEvent

__all__ = ["AlertDispatcher", "AlertKind", "emit", "health_transition"]

log = logging.getLogger(__name__)


async def emit(
    session: AsyncSession, ctx: AppContext, *, kind: str, key: str, payload: dict[str, Any]
) -> bool:
    """Add an alert to the caller's transaction; False when off, or its key was already emitted."""
    if not ctx.settings.alerts_enabled or not ctx.settings.alert_webhooks:
        return False
    now = ctx.clock()
    insert = pg_insert if is_postgres(ctx.engine) else sqlite_insert
    # ON CONFLICT DO NOTHING rather than catching IntegrityError in a savepoint: it leaves the
    # caller's transaction untouched on both databases (pysqlite's savepoints can commit early).
    statement = (
        insert(AlertEvent)
        .values(
            kind=AlertKind(kind).value,
            # Keys are unique per kind, so a caller's key never collides with another kind's.
            dedupe_key=f"{kind}:{key}",
            payload=payload,
            created_at=now,
            attempts=0,
            next_attempt_at=now,
            delivered_to=[],
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(AlertEvent.id)
    )
    if await session.scalar(statement) is None:
        return False
    log.info("alert queued", extra={"alert_kind": kind, "alert_key": key})
    return True


class AlertDispatcher:
    """Sends due alerts to the configured webhooks; safe to run in several workers at once."""

    def __init__(
        self,
        ctx: AppContext,
        *,
        max_attempts: int = 10,
        base_delay: timedelta = timedelta(seconds=30),
        max_delay: timedelta = timedelta(hours=1),
        lease: timedelta = timedelta(minutes=2),
        batch_size: int = 20,
        poll_seconds: float = 2.0,
        timeout_seconds: float = webhooks.TIMEOUT_SECONDS,
    ) -> None:
        self.ctx = ctx
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        # Must outlast one batch's sends, or another worker could claim an alert being sent.
        self.lease = lease
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds

    @property
    def destinations(self) -> list[Webhook]:
        """The webhooks every alert goes to."""
        return list(self.ctx.settings.alert_webhooks)

    async def deliver_due(self, now: datetime) -> int:
        """Claim the alerts due at ``now``, send them; returns how many were fully delivered."""
        if not self.ctx.settings.alerts_enabled or not self.destinations:
            return 0  # leave the outbox alone: nothing would receive them
        claimed = await self._claim(now)
        if not claimed:
            return 0
        async with webhooks.client(self.timeout_seconds) as http:
            results = await asyncio.gather(*(self._send(http, row) for row in claimed))
        delivered = 0
        for row, (done, errors) in zip(claimed, results, strict=True):
            delivered += await self._record(row, done, errors, now)
        return delivered

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Deliver due alerts until ``stop`` is set; errors are logged and the loop goes on."""
        while not stop.is_set():
            delivered = 0
            try:
                delivered = await self.deliver_due(self.ctx.clock())
            except Exception:  # a database outage must not end alerting for good
                log.exception("alert delivery round failed; trying again")
            if delivered < self.batch_size:  # a full batch means more may be waiting
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_seconds)

    async def _claim(self, now: datetime) -> list[AlertEvent]:
        """Take a lease on up to ``batch_size`` due alerts, counting the attempt up front."""
        due = (
            select(AlertEvent.id)
            .where(
                AlertEvent.delivered_at.is_(None),
                AlertEvent.next_attempt_at.is_not(None),
                AlertEvent.next_attempt_at <= now,
            )
            .order_by(AlertEvent.next_attempt_at, AlertEvent.id)
            .limit(self.batch_size)
        )
        if is_postgres(self.ctx.engine):
            # Rows another dispatcher is claiming right now are skipped, not waited for.
            due = due.with_for_update(skip_locked=True)
        # One statement: on SQLite the single writer makes it an atomic compare-and-set, and the
        # re-checked WHERE means a row claimed meanwhile is not claimed twice.
        claim = (
            update(AlertEvent)
            .where(AlertEvent.id.in_(due.scalar_subquery()))
            .where(AlertEvent.delivered_at.is_(None), AlertEvent.next_attempt_at <= now)
            .values(attempts=AlertEvent.attempts + 1, next_attempt_at=now + self.lease)
            .returning(AlertEvent)
        )
        async with self.ctx.sessions.begin() as session:
            rows = list((await session.scalars(claim)).all())
        return sorted(rows, key=lambda r: r.id)

    async def _send(self, http: httpx.AsyncClient, row: AlertEvent) -> tuple[list[str], list[str]]:
        """Post one alert to each webhook that does not have it yet."""
        done, errors = list(row.delivered_to), []
        key = row.dedupe_key.removeprefix(f"{row.kind}:")
        for hook in self.destinations:
            url = hook.url.get_secret_value()
            name = webhooks.fingerprint(url)
            if name in done:
                continue
            body = webhook_body(
                hook.format, kind=row.kind, key=key, payload=row.payload, created_at=row.created_at
            )
            try:
                await webhooks.post(http, url, body, seconds=self.timeout_seconds)
            except WebhookFailed as exc:
                errors.append(exc.message)
            else:
                done.append(name)
        return done, errors

    async def _record(
        self, row: AlertEvent, done: list[str], errors: list[str], now: datetime
    ) -> int:
        """Store the outcome of one alert's attempt; 1 when it is now delivered."""
        fields: dict[str, Any] = {"delivered_to": done}
        extra = {"alert_id": row.id, "alert_kind": row.kind, "attempt": row.attempts}
        if not errors:
            fields |= {"delivered_at": now, "next_attempt_at": None, "last_error": None}
            log.info("alert delivered", extra=extra)
        elif row.attempts >= self.max_attempts:
            fields |= {"next_attempt_at": None, "last_error": "; ".join(errors)}
            log.error("alert given up: %s", "; ".join(errors), extra=extra)
        else:
            delay = retry_delay(row.attempts, base=self.base_delay, cap=self.max_delay)
            fields |= {"next_attempt_at": now + delay, "last_error": "; ".join(errors)}
            log.warning("alert delivery failed, retrying: %s", "; ".join(errors), extra=extra)
        async with self.ctx.sessions.begin() as session:
            # Only while our claim stands: a later claim (our lease ran out) owns the row now.
            await session.execute(
                update(AlertEvent)
                .where(AlertEvent.id == row.id, AlertEvent.attempts == row.attempts)
                .values(**fields)
            )
        return 0 if errors else 1

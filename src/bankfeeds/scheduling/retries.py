"""What happens after a run fails: a retry with backoff, or an exception for a person."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.connectors.retry import RetryPolicy
from bankfeeds.core.errors import UNFIXABLE
from bankfeeds.core.ids import public_id
from bankfeeds.desk.exceptions import open_exception, resolve_by_system
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector, ConnectorRun, ReconException

_rng = random.SystemRandom()


async def after_failure(
    session: AsyncSession, ctx: AppContext, run: ConnectorRun, *, retryable: bool, now: datetime
) -> ConnectorRun | None:
    """Queue the next attempt of a failed run, or open an exception; in the caller's transaction."""
    connector = await session.scalar(select(Connector).where(Connector.id == run.connector_id))
    assert connector is not None
    policy = RetryPolicy.from_config(connector.config.get("retry"))
    code = run.error_code
    if retryable and connector.status == "ACTIVE" and policy.should_retry(run.attempt, code):
        retry = ConnectorRun(
            connector_id=run.connector_id,
            cycle_date=run.cycle_date,
            trigger="RETRY",
            status="QUEUED",
            force=run.force,
            attempt=run.attempt + 1,
            parent_run_id=run.parent_run_id or run.id,
            backfill_job_id=run.backfill_job_id,
            not_before=now + timedelta(seconds=policy.delay(run.attempt, _rng)),
            requested_by="retry",
            queued_at=now,
        )
        session.add(retry)
        await session.flush()
        return retry
    if run.status == "FAILED" or code in UNFIXABLE:
        why = "cannot be fixed by retrying" if code in UNFIXABLE else "failed on its last attempt"
        await open_exception(
            session,
            ctx,
            kind="RUN_FAILED",
            severity="HIGH",
            message=f"{public_id('run', run.id)} {why}: {run.error_message or code}",
            dedupe_key=failed_key(run),
            connector_pk=run.connector_id,
            run_pk=run.id,
            provider=connector.provider,
            cycle_date=run.cycle_date,
            data={"errorCode": code, "attempt": run.attempt},
        )
    return None


def failed_key(run: ConnectorRun) -> str:
    """The dedupe key of the one open RUN_FAILED per connector and cycle date."""
    return f"RUN_FAILED:{run.connector_id}:{run.cycle_date.isoformat()}"


async def resolve_failed(session: AsyncSession, run: ConnectorRun, *, now: datetime) -> bool:
    """Resolve the open RUN_FAILED of the run's connector and day: this run got the day's file.

    In the caller's transaction (the run's finish). Not when this run ends with a cause that
    would open it again at once (an unfixable error code). Returns whether one was resolved.
    """
    if run.status not in ("SUCCESS", "PARTIAL") or (
        run.status == "PARTIAL" and run.error_code in UNFIXABLE
    ):
        return False
    rid = public_id("run", run.id)
    said = f"{rid} succeeded." if run.status == "SUCCESS" else f"{rid} stored the day's file."
    done = await resolve_by_system(
        session, ReconException.dedupe_key == failed_key(run), now=now, note=said
    )
    return done > 0

"""Shared steps of the recon tests: connectors for a day's files, running them, the jobs."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from tests.support.targets import Target

from bankfeeds.adapters.db.models import ReconJob
from bankfeeds.domain.connectors import ConnectorCreate
from bankfeeds.domain.ids import public_id
from bankfeeds.services import connectors, ingest, recon, recon_run, run_views, runs
from bankfeeds.services.context import AppContext

DAY = date(2025, 1, 10)
PATTERNS = {"AXIS": "AXIS_RECON_YYYYMMDD*.csv", "PG": "PG_TXN_YYYYMMDD*.csv"}


async def make_connector(ctx: AppContext, target: Target, provider: str, **cfg: Any) -> str:
    """A connector of ``provider`` on the target (accept-new host key, no stability wait)."""
    config = {
        "host": target.host,
        "port": target.port,
        "username": target.username,
        "password": target.password,
        "remotePath": target.remote_dir,
        "filePattern": PATTERNS.get(provider, "CUSTOM_YYYYMMDD*.csv"),
        "checksumExt": ".sha256",
        "stableSeconds": 0,
        **cfg,
    }
    name = f"{provider} {target.kind}"
    body = ConnectorCreate.model_validate(
        {"name": name, "type": "SFTP", "provider": provider, "config": config}
    )
    view, _ = await connectors.create(ctx=ctx, body=body, actor="test", idempotency_key=None)
    return str(view["id"])


async def run_once(ctx: AppContext, connector_id: str, day: date = DAY) -> dict[str, Any]:
    """Start and execute a run to its end; return its view."""
    run = await runs.start_run(
        ctx=ctx,
        connector_id=connector_id,
        cycle_date=day,
        trigger="MANUAL",
        force=False,
        actor="test",
        worker_id="test-worker",
    )
    await ingest.execute(ctx, run.id, "test-worker")
    return await run_views.get_run(ctx=ctx, run_id=public_id("run", run.id))


async def jobs(ctx: AppContext) -> list[ReconJob]:
    """Every recon job, oldest first."""
    async with ctx.sessions() as session:
        return list((await session.scalars(select(ReconJob).order_by(ReconJob.id))).all())


async def work_jobs(ctx: AppContext) -> list[int]:
    """Claim and run pending jobs as a worker would, until none is left."""
    done: list[int] = []
    while claimed := await recon.claim_jobs(ctx, limit=5):
        for pk in claimed:
            await recon_run.run_job(ctx, pk)
        done += claimed
    return done

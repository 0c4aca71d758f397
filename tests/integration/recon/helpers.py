"""Shared steps of the recon tests: connectors for a day's files, running them, the jobs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from tests.support.pipeline import DAY, run_once
from tests.support.targets import Target

__all__ = ["DAY", "jobs", "make_connector", "run_once", "work_jobs"]

from bankfeeds.connectors.model import ConnectorCreate
from bankfeeds.pipeline import handoff
from bankfeeds.recon import jobs as recon
from bankfeeds.recon import run as recon_run
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import ReconJob

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
    view, _ = await handoff.create_connector(ctx=ctx, body=body, actor="test", idempotency_key=None)
    return str(view["id"])


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

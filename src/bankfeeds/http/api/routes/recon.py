"""Recon endpoints: jobs, their summaries and results, and re-running a day."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from bankfeeds.http.deps import Ctx, Operator, Viewer
from bankfeeds.pipeline.worker import Worker
from bankfeeds.recon import jobs as recon
from bankfeeds.recon import views as recon_views

router = APIRouter(prefix="/ops/recon", tags=["recon"])


class Rerun(BaseModel):
    """Body of ``POST /ops/recon/jobs``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    #: A built-in provider, or a CUSTOM connector's layout name.
    provider: str = Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_]+$")
    cycle_date: date = Field(alias="cycleDate")


@router.get("/jobs")
async def list_jobs(
    ctx: Ctx,
    _: Viewer,
    provider: Annotated[str | None, Query(max_length=16)] = None,
    cycle_date: Annotated[date | None, Query(alias="date")] = None,
    status: Annotated[
        str | None, Query(pattern="^(PENDING|RUNNING|COMPLETED|FAILED|SUPERSEDED)$")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Recon jobs, newest first."""
    return await recon_views.list_jobs(
        ctx=ctx, provider=provider, cycle_date=cycle_date, status=status, cursor=cursor, limit=limit
    )


@router.post("/jobs", status_code=202)
async def rerun(body: Rerun, request: Request, ctx: Ctx, who: Operator) -> dict[str, Any]:
    """Reconcile a provider's day again, in the worker; 202 with the queued job(s)."""
    jobs = await recon.rerun(
        ctx=ctx, provider=body.provider.upper(), cycle_date=body.cycle_date, actor=who.name
    )
    worker = request.app.state.worker
    if isinstance(worker, Worker):
        worker.wake()
    return {"jobs": jobs}


@router.get("/jobs/{job_id}")
async def get_job(job_id: str, ctx: Ctx, _: Viewer) -> dict[str, Any]:
    """One job with counts and paise totals per outcome."""
    return await recon_views.get_job(ctx=ctx, job_id=job_id)


@router.get("/jobs/{job_id}/results.csv")
async def results_csv(job_id: str, ctx: Ctx, _: Viewer) -> StreamingResponse:
    """Every outcome row of a completed job, streamed as CSV."""
    chunks = await recon_views.results_csv(ctx=ctx, job_id=job_id)
    headers = {"Content-Disposition": f'attachment; filename="{job_id}-results.csv"'}
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8", headers=headers)

"""Run endpoints: test, run-now, backfill, run history, exceptions and resolving them."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from bankfeeds.core.ids import parse_id
from bankfeeds.desk import resolutions
from bankfeeds.http.deps import Ctx, Operator, Viewer
from bankfeeds.pipeline import operations
from bankfeeds.pipeline.worker import Worker
from bankfeeds.recon import views as recon_views
from bankfeeds.scheduling import views as run_views

router = APIRouter(prefix="/ops", tags=["runs"])


class RunNow(BaseModel):
    """Body of ``run-now`` (optional)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    cycle_date: date | None = Field(default=None, alias="cycleDate")
    force: bool = False


class Backfill(BaseModel):
    """Body of ``backfill``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    start_date: date = Field(alias="startDate")
    end_date: date = Field(alias="endDate")
    force: bool = False


def _worker(request: Request) -> Worker:
    worker = request.app.state.worker
    assert isinstance(worker, Worker)
    return worker


@router.post("/connectors/{connector_id}/test")
async def check_connection(connector_id: str, ctx: Ctx, _: Operator) -> dict[str, Any]:
    """Connect, authenticate and list, and say what was found."""
    return await operations.test_connection(ctx=ctx, connector_id=connector_id)


@router.post("/connectors/{connector_id}/run-now")
async def run_now(
    connector_id: str,
    request: Request,
    response: Response,
    ctx: Ctx,
    who: Operator,
    body: Annotated[RunNow | None, Body()] = None,
) -> dict[str, Any]:
    """Fetch a cycle date now; 200 with the finished run, or 202 with the run to poll."""
    body = body or RunNow()
    view, finished = await operations.run_now(
        ctx=ctx,
        worker=_worker(request),
        connector_id=connector_id,
        cycle_date=body.cycle_date,
        force=body.force,
        actor=who.name,
        wait_seconds=request.app.state.run_wait_seconds,
    )
    if not finished:
        response.status_code = 202
    return view


@router.post("/connectors/{connector_id}/backfill", status_code=202)
async def backfill(
    connector_id: str, body: Backfill, request: Request, ctx: Ctx, who: Operator
) -> dict[str, Any]:
    """Queue one run per day of a date range."""
    return await operations.backfill(
        ctx=ctx,
        worker=_worker(request),
        connector_id=connector_id,
        start=body.start_date,
        end=body.end_date,
        force=body.force,
        actor=who.name,
    )


@router.get("/backfills/{job_id}")
async def backfill_status(job_id: str, ctx: Ctx, _: Viewer) -> dict[str, Any]:
    """A backfill's progress."""
    return await run_views.backfill_status(ctx=ctx, job_id=job_id)


@router.get("/connectors/{connector_id}/runs")
async def list_runs(
    connector_id: str,
    ctx: Ctx,
    _: Viewer,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """A connector's runs, newest first."""
    return await run_views.list_runs(ctx=ctx, connector_id=connector_id, cursor=cursor, limit=limit)


@router.get("/runs/{run_id}")
async def get_run(run_id: str, ctx: Ctx, _: Viewer) -> dict[str, Any]:
    """One run with its files."""
    return await run_views.get_run(ctx=ctx, run_id=run_id)


@router.get("/exceptions")
async def list_exceptions(
    ctx: Ctx,
    _: Viewer,
    state: Annotated[str | None, Query(pattern="^(OPEN|RESOLVED)$")] = "OPEN",
    kind: Annotated[str | None, Query(max_length=40)] = None,
    type_: Annotated[str | None, Query(alias="type", max_length=40)] = None,
    severity: Annotated[str | None, Query(pattern="^(LOW|MEDIUM|HIGH|CRITICAL)$")] = None,
    connector: Annotated[str | None, Query(alias="connectorId", max_length=40)] = None,
    cycle_date: Annotated[date | None, Query(alias="date")] = None,
    provider: Annotated[str | None, Query(max_length=16)] = None,
    job: Annotated[str | None, Query(alias="jobId", max_length=40)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Exceptions, newest first (open ones by default); ``type`` is another name for ``kind``."""
    return await recon_views.list_exceptions(
        ctx=ctx,
        cursor=cursor,
        limit=limit,
        state=state,
        kind=kind or type_,
        severity=severity,
        connector_pk=parse_id("connector", connector) if connector else None,
        cycle_date=cycle_date,
        provider=provider.upper() if provider else None,
        job_pk=parse_id("job", job) if job else None,
    )


class Resolve(BaseModel):
    """Body of ``POST /ops/exceptions/{id}/resolve``."""

    model_config = ConfigDict(extra="forbid")
    note: str = Field(max_length=4000)


@router.post("/exceptions/{exception_id}/resolve")
async def resolve_exception(
    exception_id: str, body: Resolve, ctx: Ctx, who: Operator
) -> dict[str, Any]:
    """Resolve an open exception with a note saying why (audited)."""
    return await resolutions.resolve(
        ctx=ctx, exception_id=exception_id, note=body.note, actor=who.name
    )

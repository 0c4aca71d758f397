"""Recon results by day and provider, one job's page with its CSV, and the exceptions inbox."""

from __future__ import annotations

from itertools import groupby
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from bankfeeds.core.ids import parse_id
from bankfeeds.desk import resolutions
from bankfeeds.http.deps import Ctx
from bankfeeds.http.web.chart import outcome_bars
from bankfeeds.http.web.errors import toast
from bankfeeds.http.web.security import Operator, Viewer
from bankfeeds.http.web.templating import render
from bankfeeds.pipeline import handoff
from bankfeeds.recon import views as recon_views
from bankfeeds.recon.match import KINDS

router = APIRouter(prefix="/ui")
Cursor = Annotated[str | None, Query(max_length=200)]
Kind = Annotated[str | None, Query(max_length=40, pattern="^[A-Z_]*$")]
PAGE = 50


@router.get("/recon")
async def jobs(request: Request, ctx: Ctx, _: Viewer) -> Response:
    """Recon jobs grouped by cycle date."""
    found = await recon_views.list_jobs_for_ui(ctx=ctx)
    days = [(day, list(group)) for day, group in groupby(found, key=lambda j: j["cycleDate"])]
    return render(request, "recon.html", days=days)


@router.get("/recon/jobs/{job_id}")
async def job(
    job_id: str, request: Request, ctx: Ctx, _: Viewer, kind: Kind = None, cursor: Cursor = None
) -> Response:
    """One job: summary, outcome chart, its exceptions a page at a time."""
    view = await recon_views.get_job_for_ui(ctx=ctx, job_id=job_id)
    page = await recon_views.job_exceptions(
        ctx=ctx, job_id=job_id, kind=kind or None, cursor=cursor, limit=PAGE
    )
    return render(
        request, "recon_job.html", job=view, page=page, kind=kind, chart=outcome_bars(view)
    )


@router.get("/recon/jobs/{job_id}/exceptions.csv")
async def job_csv(job_id: str, ctx: Ctx, _: Viewer) -> Response:
    """Every exception of the job as a CSV download."""
    body = await recon_views.job_csv(ctx=ctx, job_id=job_id)
    disposition = f'attachment; filename="{job_id}-exceptions.csv"'
    return Response(body, media_type="text/csv", headers={"Content-Disposition": disposition})


@router.get("/exceptions")
async def inbox(
    request: Request,
    ctx: Ctx,
    _: Viewer,
    state: Annotated[str | None, Query(pattern="^(OPEN|RESOLVED|)$")] = "OPEN",
    kind: Kind = None,
    connector: Annotated[str | None, Query(max_length=40)] = None,
    cursor: Cursor = None,
) -> Response:
    """Exceptions across connectors, newest first, filtered."""
    page = await recon_views.list_exceptions(
        ctx=ctx,
        state=state or None,
        kind=kind or None,
        connector_pk=parse_id("connector", connector) if connector else None,
        cursor=cursor,
        limit=PAGE,
    )
    filters = {"state": state or "", "kind": kind or "", "connector": connector or ""}
    return render(request, "exceptions.html", page=page, filters=filters, kinds=KINDS)


@router.post("/exceptions/{exception_id}/accept-file")
async def accept_file(exception_id: str, request: Request, ctx: Ctx, who: Operator) -> Response:
    """Accept the stale file a STALE_FILE exception is about; answers with the updated row."""
    view = await handoff.accept_for_exception(
        ctx=ctx, exception_id=exception_id, actor=who.principal.name
    )
    response = render(request, "_exception_row.html", exc=view)
    response.headers["HX-Trigger"] = toast(f"Accepted the file of {exception_id}.")
    return response


@router.post("/exceptions/{exception_id}/resolve")
async def resolve(
    exception_id: str,
    request: Request,
    ctx: Ctx,
    who: Operator,
    note: Annotated[str, Form(max_length=resolutions.MAX_NOTE)] = "",
) -> Response:
    """Resolve with a note; answers with the updated row."""
    view = await resolutions.resolve(
        ctx=ctx, exception_id=exception_id, note=note, actor=who.principal.name
    )
    response = render(request, "_exception_row.html", exc=view)
    response.headers["HX-Trigger"] = toast(f"Resolved {exception_id}.")
    return response

"""The Backfill dialog: a checked date range with an estimate, then live per-day progress."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from bankfeeds.connectors.patterns import matches
from bankfeeds.core.errors import FieldError, ValidationFailed
from bankfeeds.http.deps import Ctx
from bankfeeds.http.web.errors import toast
from bankfeeds.http.web.routes.connectors import worker
from bankfeeds.http.web.security import Operator, Viewer
from bankfeeds.http.web.templating import render
from bankfeeds.monitoring import connectors as monitored
from bankfeeds.monitoring import history
from bankfeeds.pipeline import operations
from bankfeeds.scheduling import views as run_views
from bankfeeds.storage.context import AppContext

router = APIRouter(prefix="/ui")
WARN_DAYS = 30
PREVIEW_DAYS = 7
# Longest first, as connectors.patterns reads them; the preview is checked with patterns.matches.
_TOKENS = (("YYYY-MM-DD", "%Y-%m-%d"), ("YYYYMMDD", "%Y%m%d"), ("DDMMYYYY", "%d%m%Y"),
           ("YYMMDD", "%y%m%d"))  # fmt: skip


def expected_name(pattern: str, day: date) -> str:
    """The pattern with its date token filled in for ``day`` (globs left as they are)."""
    for token, fmt in _TOKENS:
        pattern = pattern.replace(token, day.strftime(fmt))
    return pattern


def _parse(start: str, end: str) -> tuple[date, date]:
    errors, parsed = [], {}
    for field, raw in (("startDate", start), ("endDate", end)):
        try:
            parsed[field] = date.fromisoformat(raw)
        except ValueError:
            errors.append(FieldError(field, "must be a date like 2025-01-08"))
    if errors:
        raise ValidationFailed(errors=errors)
    return parsed["startDate"], parsed["endDate"]


async def _plan(ctx: AppContext, connector: dict[str, Any], start: str, end: str) -> dict[str, Any]:
    """Days, estimate and preview for a range, or the range's errors by field."""
    today = ctx.clock().astimezone(ZoneInfo(connector["config"]["timezone"])).date()
    try:
        first, last = _parse(start, end)
        operations.check_range(first, last, today)
    except ValidationFailed as exc:
        return {"errors": {e.field: e.message for e in exc.errors}}
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    stats = await history.run_stats(ctx=ctx, connector_id=connector["id"])
    pattern = str(connector["config"].get("filePattern") or "")
    names = [(d, expected_name(pattern, d)) for d in days] if len(days) <= PREVIEW_DAYS else []
    checked = [
        (d, n) for d, n in names if matches(pattern, n.replace("*", "").replace("?", "_"), d)
    ]
    return {
        "errors": {},
        "days": len(days),
        "estimate_ms": stats.average_ms * len(days) if stats.average_ms else None,
        "warn": len(days) > WARN_DAYS,
        "names": checked,
    }


@router.get("/connectors/{connector_id}/backfill")
async def dialog(connector_id: str, request: Request, ctx: Ctx, _: Operator) -> Response:
    """The dialog, with the last three days proposed."""
    view = await monitored.get_connector(ctx=ctx, connector_id=connector_id)
    today = ctx.clock().astimezone(ZoneInfo(view["config"]["timezone"])).date()
    start, end = (today - timedelta(days=3)).isoformat(), (today - timedelta(days=1)).isoformat()
    plan = await _plan(ctx, view, start, end)
    return render(
        request,
        "_backfill_dialog.html",
        connector=view,
        start=start,
        end=end,
        today=today,
        plan=plan,
    )


@router.post("/connectors/{connector_id}/backfill/preview")
async def plan_preview(
    connector_id: str,
    request: Request,
    ctx: Ctx,
    _: Operator,
    startDate: Annotated[str, Form(max_length=20)] = "",
    endDate: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Days, estimate, warning and file names for the range as typed, or its errors."""
    view = await monitored.get_connector(ctx=ctx, connector_id=connector_id)
    plan = await _plan(ctx, view, startDate, endDate)
    return render(request, "_backfill_plan.html", connector=view, plan=plan, oob=True)


@router.post("/connectors/{connector_id}/backfill")
async def start(
    connector_id: str,
    request: Request,
    ctx: Ctx,
    who: Operator,
    startDate: Annotated[str, Form(max_length=20)] = "",
    endDate: Annotated[str, Form(max_length=20)] = "",
    force: Annotated[bool, Form()] = False,
) -> Response:
    """Queue the runs and show their progress (errors go back beside the dates)."""
    view = await monitored.get_connector(ctx=ctx, connector_id=connector_id)
    plan = await _plan(ctx, view, startDate, endDate)
    if plan["errors"]:
        response = render(
            request, "_backfill_plan.html", status=422, connector=view, plan=plan, oob=True
        )
        response.headers["HX-Retarget"] = "#bf-plan"
        return response
    first, last = _parse(startDate, endDate)
    job = await operations.backfill(
        ctx=ctx,
        worker=worker(request),
        connector_id=connector_id,
        start=first,
        end=last,
        force=force,
        actor=who.principal.name,
    )
    status = await run_views.backfill_status(ctx=ctx, job_id=job["jobId"])
    response = render(request, "_backfill_progress.html", job=status)
    response.headers["HX-Trigger"] = toast(f"Backfill of {job['daysToProcess']} day(s) queued.")
    return response


@router.get("/backfills/{job_id}")
async def progress(job_id: str, request: Request, ctx: Ctx, _: Viewer) -> Response:
    """Per-day progress; keeps polling itself until every day is done."""
    status = await run_views.backfill_status(ctx=ctx, job_id=job_id)
    response = render(request, "_backfill_progress.html", job=status)
    if status["status"] != "RUNNING":
        response.headers["HX-Trigger"] = toast(
            f"Backfill {status['status'].lower()}: {status['daysDone']} of "
            f"{status['daysToProcess']} day(s) done.",
            "success" if status["status"] == "COMPLETED" else "warning",
            events={"refresh-card": {"id": status["connectorId"]}},
        )
    return response

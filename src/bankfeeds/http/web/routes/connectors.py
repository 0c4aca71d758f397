"""The Connectors page: the card grid, its filters, and the actions on each card."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from bankfeeds.connectors import service as connectors
from bankfeeds.connectors.model import ConnectorStatus, ConnectorType, Provider
from bankfeeds.core.ids import parse_id
from bankfeeds.http.deps import Ctx
from bankfeeds.http.web.errors import toast
from bankfeeds.http.web.security import Operator, UiUser, Viewer
from bankfeeds.http.web.templating import render
from bankfeeds.monitoring import dashboard
from bankfeeds.monitoring.health_rules import HealthStatus
from bankfeeds.pipeline import operations
from bankfeeds.pipeline.worker import Worker
from bankfeeds.storage.context import AppContext

router = APIRouter(prefix="/ui")
HEALTH: tuple[HealthStatus, ...] = ("HEALTHY", "WARNING", "CRITICAL", "NEVER_RUN", "PAUSED")


def _choice(*values: str) -> str:
    """A query pattern admitting one of ``values`` or nothing (an empty select)."""
    return "^(" + "|".join(values) + ")?$"


def _filters(
    q: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[str | None, Query(pattern=_choice(*ConnectorStatus))] = None,
    provider: Annotated[str | None, Query(pattern=_choice(*Provider))] = None,
    type: Annotated[str | None, Query(pattern=_choice(*ConnectorType))] = None,
    health: Annotated[str | None, Query(pattern=_choice(*HEALTH))] = None,
) -> dict[str, Any]:
    """The page's filters, validated; empty form fields count as absent."""
    return {
        "q": q or None,
        "status": status or None,
        "provider": provider or None,
        "ctype": type or None,
        "health": health or None,
    }


Filters = Annotated[dict[str, Any], Depends(_filters)]


def worker(request: Request) -> Worker:
    """The app's in-process worker (run-now and backfills hand it their runs)."""
    found = request.app.state.worker
    assert isinstance(found, Worker)
    return found


def _page_context(filters: dict[str, Any], board: dashboard.Board) -> dict[str, Any]:
    return {
        "board": board,
        "filters": filters,
        "providers": [p.value for p in Provider],
        "types": [t.value for t in ConnectorType],
        "healths": HEALTH,
    }


@router.get("")
async def page(request: Request, ctx: Ctx, _: Viewer, filters: Filters) -> Response:
    """The Connectors page."""
    board = await dashboard.board(ctx=ctx, **filters)
    return render(request, "connectors.html", **_page_context(filters, board))


@router.get("/connectors/grid")
async def grid(request: Request, ctx: Ctx, _: Viewer, filters: Filters) -> Response:
    """The tabs and the card grid, for searches, filters and refreshes."""
    board = await dashboard.board(ctx=ctx, **filters)
    return render(request, "_grid.html", **_page_context(filters, board))


async def _card(request: Request, ctx: AppContext, connector_id: str, **headers: str) -> Response:
    board = await dashboard.board(ctx=ctx, connector_pk=parse_id("connector", connector_id))
    if not board.cards:  # deleted meanwhile: an empty swap removes the card
        return Response("", headers=headers)
    response = render(request, "_card.html", card=board.cards[0])
    for key, value in headers.items():
        response.headers[key] = value
    return response


@router.get("/connectors/{connector_id}/card")
async def card(connector_id: str, request: Request, ctx: Ctx, _: Viewer) -> Response:
    """One card, refreshed in place."""
    return await _card(request, ctx, connector_id)


async def _set_status(
    request: Request, ctx: AppContext, who: UiUser, connector_id: str, wanted: ConnectorStatus
) -> Response:
    view = await connectors.set_status(
        ctx=ctx, connector_id=connector_id, status=wanted, actor=who.principal.name
    )
    done = "paused" if wanted is ConnectorStatus.PAUSED else "resumed"
    return await _card(
        request, ctx, connector_id, **{"HX-Trigger": toast(f"{view['name']} {done}.")}
    )


@router.post("/connectors/{connector_id}/pause")
async def pause(connector_id: str, request: Request, ctx: Ctx, who: Operator) -> Response:
    """Pause; answers with the refreshed card and a notification."""
    return await _set_status(request, ctx, who, connector_id, ConnectorStatus.PAUSED)


@router.post("/connectors/{connector_id}/resume")
async def resume(connector_id: str, request: Request, ctx: Ctx, who: Operator) -> Response:
    """Resume; answers with the refreshed card and a notification."""
    return await _set_status(request, ctx, who, connector_id, ConnectorStatus.ACTIVE)


@router.post("/connectors/{connector_id}/run-now")
async def run_now(connector_id: str, request: Request, ctx: Ctx, who: Operator) -> Response:
    """Run now; the card shows the outcome (or that it is still running)."""
    view, finished = await operations.run_now(
        ctx=ctx,
        worker=worker(request),
        connector_id=connector_id,
        cycle_date=None,
        force=False,
        actor=who.principal.name,
        wait_seconds=request.app.state.run_wait_seconds,
    )
    if not finished:
        note = toast(f"Run {view['id']} for {view['cycleDate']} is still running.", "info")
    else:
        level = {"SUCCESS": "success", "PARTIAL": "warning"}.get(view["status"], "error")
        note = toast(
            f"Run {view['id']} for {view['cycleDate']}: {view['status']} — "
            f"{view['filesDownloaded']} downloaded, {view['filesSkipped']} skipped"
            + (f". {view['error']}" if view.get("error") else "."),
            level,
        )
    return await _card(request, ctx, connector_id, **{"HX-Trigger": note})


@router.post("/connectors/{connector_id}/test")
async def test(connector_id: str, request: Request, ctx: Ctx, _: Operator) -> Response:
    """Test the connection; the result is a notification."""
    result = await operations.test_connection(ctx=ctx, connector_id=connector_id)
    message = result["message"]
    fingerprint = result["details"].get("hostKeyFingerprint")
    if not result["success"] and fingerprint:
        message += f" Server key {fingerprint}: open Edit → Test connection to trust it."
    note = toast(message, "success" if result["success"] else "error")
    return await _card(request, ctx, connector_id, **{"HX-Trigger": note})

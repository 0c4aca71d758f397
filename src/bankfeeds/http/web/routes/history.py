"""The Run history dialog: totals, a timeline of runs, and each run's files on demand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from bankfeeds.http.deps import Ctx
from bankfeeds.http.web.security import Viewer
from bankfeeds.http.web.templating import render
from bankfeeds.monitoring import connectors as monitored
from bankfeeds.monitoring import history
from bankfeeds.scheduling import views as run_views

router = APIRouter(prefix="/ui")
PAGE = 20
#: What to try next, by the run's error code.
HINTS = {
    "host-key-untrusted": "Open Edit → Test connection and trust the server's key.",
    "host-key-mismatch": "The server's key changed: confirm with the bank before trusting it.",
    "authentication-failed": "Check the user name and password or key under Edit → Auth.",
    "invalid-private-key": "Paste the key again and check its passphrase.",
    "source-unreachable": "Check the host and port, and that the server accepts connections.",
    "source-timeout": "The server was slow; run again, or check the network path.",
    "no-such-path": "Check the Remote Path under Edit → Connection.",
    "permission-denied": "Ask the bank to grant the user read access to the path.",
    "checksum-mismatch": "The file did not match its sidecar; it is quarantined. Ask for a resend.",
    "worker-lost": "The worker stopped mid-run; run again.",
    "file-quarantined": "Too many rows could not be read; the bad rows are listed below. Ask the "
    "bank for a corrected file.",
    "file-unreadable": "The file is not in the connector's layout; check the layout or ask the "
    "bank for the right file.",
    "file-stale": "The file is the same as another day's; accept it if the bank confirms, or ask "
    "for the day's file.",
    "no-file": "Check the file pattern (SFTP) or the endpoint and its date parameter (API) under "
    "Edit → Connection against what the message says came nearest or what the bank answered.",
}


@router.get("/connectors/{connector_id}/history")
async def dialog(
    connector_id: str,
    request: Request,
    ctx: Ctx,
    _: Viewer,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The dialog (first page), or with ``cursor`` the next page of runs only."""
    page = await run_views.list_runs(ctx=ctx, connector_id=connector_id, cursor=cursor, limit=PAGE)
    if cursor:
        return render(request, "_run_rows.html", page=page, connector_id=connector_id)
    view = await monitored.get_connector(ctx=ctx, connector_id=connector_id)
    stats = await history.run_stats(ctx=ctx, connector_id=connector_id)
    return render(
        request,
        "_history_dialog.html",
        connector=view,
        stats=stats,
        page=page,
        connector_id=connector_id,
    )


@router.get("/runs/{run_id}")
async def run_detail(run_id: str, request: Request, ctx: Ctx, _: Viewer) -> Response:
    """One run's files, error with a hint, and recon jobs."""
    run = await run_views.get_run(ctx=ctx, run_id=run_id)
    jobs = await history.recon_jobs_of_run(ctx=ctx, run_id=run_id)
    stored = {f["name"]: f for f in run["ingestedFiles"]}
    return render(
        request,
        "_run_detail.html",
        run=run,
        stored=stored,
        jobs=jobs,
        hint=HINTS.get(run.get("errorCode") or ""),
    )

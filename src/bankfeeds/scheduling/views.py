"""Run reads: one run with its files, a connector's run history, a backfill's progress."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.connectors.service import load
from bankfeeds.connectors.views import run_view
from bankfeeds.core.errors import NotFound
from bankfeeds.core.ids import parse_id, public_id
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import ConnectorRun, IngestedFile, ReconException, RunFile
from bankfeeds.storage.db.pages import paginate

ACTIVE = ("QUEUED", "RUNNING")


#: Bad rows listed per file in a run's view; the file's exceptions hold the same first ones.
MAX_BAD_ROWS = 100


def _verdict(stored: IngestedFile | None, bad: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    """What normalisation made of a stored file: its status, rows, bad rows and why."""
    if stored is None:
        return {
            "status": None,
            "rows": None,
            "badRowCount": None,
            "badRows": [],
            "reason": None,
            "replacedBytes": None,
        }
    summary = stored.summary or {}
    return {
        "status": stored.status,
        "rows": stored.row_count,
        "badRowCount": summary.get("badRows"),
        "badRows": bad.get(stored.id, []),
        "reason": stored.error_message,
        "replacedBytes": summary.get("replacedBytes"),
    }


def _file_view(
    row: RunFile, stored: IngestedFile | None, bad: dict[int, list[dict[str, Any]]]
) -> dict[str, Any]:
    return {
        "name": row.remote_name,
        "size": row.size,
        "outcome": row.outcome,
        "sha256": row.sha256,
        "fileId": public_id("file", row.file_id) if row.file_id else None,
        "message": row.message,
        **_verdict(stored, bad),
    }


async def _bad_rows(session: AsyncSession, files: Any) -> dict[int, list[dict[str, Any]]]:
    """The first bad rows (line and reason) of each file in the ``files`` id subquery."""
    rows = await session.execute(
        select(ReconException.file_id, ReconException.source_row, ReconException.data)
        .where(ReconException.kind == "PARSE_ERROR", ReconException.file_id.in_(files))
        .where(ReconException.source_row.is_not(None))
        .order_by(ReconException.file_id, ReconException.source_row, ReconException.id)
    )
    bad: dict[int, list[dict[str, Any]]] = {}
    seen: set[tuple[int, int]] = set()
    for file_pk, line, data in rows.all():
        listed = bad.setdefault(file_pk, [])
        # A file normalised again keeps resolved rows of before: one entry per line.
        if len(listed) >= MAX_BAD_ROWS or (file_pk, line) in seen:
            continue
        seen.add((file_pk, line))
        listed.append({"line": line, "reason": (data or {}).get("reason")})
    return bad


async def get_run(*, ctx: AppContext, run_id: str) -> dict[str, Any]:
    """One run with what it did to each file and what normalisation made of it.

    Three queries whatever the number of files: the run's files with their rows, the rows it
    created, and their first bad rows.
    """
    pk = parse_id("run", run_id)
    async with ctx.sessions() as session:
        run = await session.get(ConnectorRun, pk)
        if run is None:
            raise NotFound(f"No run with id {run_id!r}.")
        files = (
            await session.execute(
                select(RunFile, IngestedFile)
                .outerjoin(IngestedFile, IngestedFile.id == RunFile.file_id)
                .where(RunFile.run_id == pk)
                .order_by(RunFile.id)
            )
        ).all()
        stored = (
            await session.scalars(
                select(IngestedFile).where(IngestedFile.run_id == pk).order_by(IngestedFile.id)
            )
        ).all()
        ids = (
            select(RunFile.file_id)
            .where(RunFile.run_id == pk)
            .union(select(IngestedFile.id).where(IngestedFile.run_id == pk))
        )
        bad = await _bad_rows(session, ids)
    view = run_view(run)
    view["files"] = [_file_view(f, i, bad) for f, i in files]
    view["ingestedFiles"] = [
        {
            "id": public_id("file", f.id),
            "name": f.remote_name,
            "sha256": f.sha256,
            "size": f.size,
            "version": f.version,
            "objectKey": f.object_key,
            **_verdict(f, bad),
        }
        for f in stored
    ]
    return view


async def list_runs(
    *, ctx: AppContext, connector_id: str, cursor: str | None, limit: int
) -> dict[str, Any]:
    """A connector's runs, newest first, a page at a time."""
    async with ctx.sessions() as session:
        connector = await load(session, connector_id)
        query = select(ConnectorRun).where(ConnectorRun.connector_id == connector.id)
        page = await paginate(session, query, ConnectorRun.id, cursor=cursor, limit=limit)
    return page.body("runs", run_view)


async def backfill_status(*, ctx: AppContext, job_id: str) -> dict[str, Any]:
    """A backfill's runs and overall progress."""
    async with ctx.sessions() as session:
        runs = (
            await session.scalars(
                select(ConnectorRun)
                .where(ConnectorRun.backfill_job_id == job_id)
                .order_by(ConnectorRun.cycle_date)
            )
        ).all()
    if not runs:
        raise NotFound(f"No backfill job with id {job_id!r}.")
    done = [r for r in runs if r.status not in ACTIVE]
    failed = [r for r in done if r.status in ("FAILED", "CANCELLED")]
    status = "RUNNING" if len(done) < len(runs) else ("FAILED" if failed else "COMPLETED")
    if status == "COMPLETED" and any(r.status == "PARTIAL" for r in runs):
        status = "PARTIAL"
    return {
        "jobId": job_id,
        "connectorId": public_id("connector", runs[0].connector_id),
        "daysToProcess": len(runs),
        "daysDone": len(done),
        "status": status,
        "runs": [run_view(r) for r in runs],
    }

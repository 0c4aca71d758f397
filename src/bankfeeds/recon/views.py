"""The recon read model: jobs, one job's exceptions, its results and exceptions as CSV.

The API and the web UI read the same rows. Where they want a job in different shapes, each read
feeds two formatters: ``_api_view`` (ISO strings, the input files and the runs that fetched them)
and ``_ui_view`` (dates for the templates, count and paise per outcome, open exceptions).
Exceptions are read by one query whatever the filters and the order.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import Select, func, select

from bankfeeds.core.csv_cells import escape_formulas
from bankfeeds.core.errors import Conflict, NotFound
from bankfeeds.core.ids import parse_id, public_id
from bankfeeds.desk.exceptions import exception_view
from bankfeeds.recon.match import MATCHED_OUTCOMES
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import IngestedFile, ReconException, ReconJob, ReconJobFile
from bankfeeds.storage.db.pages import paginate

CSV_CHUNK_ROWS = 20_000
#: Columns of a job's exceptions CSV, in order.
CSV_COLUMNS = ("id", "kind", "severity", "state", "provider", "cycleDate", "sourceRow", "message")


async def _job_row(ctx: AppContext, job_id: str) -> ReconJob:
    """The job ``job_id``; NotFound when there is none."""
    async with ctx.sessions() as session:
        row = await session.get(ReconJob, parse_id("job", job_id))
    if row is None:
        raise NotFound(f"No recon job with id {job_id!r}.")
    return row


# Jobs as the API shows them.


def _api_view(
    row: ReconJob, runs: dict[int, int | None], inputs: dict[int, list[tuple[str, int]]]
) -> dict[str, Any]:
    """A job with its input files, the runs that fetched them and its summary, dates as ISO."""
    summary = row.summary or {}
    mine = inputs.get(row.id, [])
    sides = {
        side: [pk for s, pk in mine if s == side] or [default]
        for side, default in (("BANK", row.bank_file_id), ("PG", row.pg_file_id))
    }
    run_pks = sorted({r for pk in sides["BANK"] + sides["PG"] if (r := runs.get(pk)) is not None})
    return {
        "id": public_id("job", row.id),
        "provider": row.provider,
        "cycleDate": row.cycle_date.isoformat(),
        "status": row.status,
        "bankFileId": public_id("file", row.bank_file_id),
        "pgFileId": public_id("file", row.pg_file_id),
        "bankFileIds": [public_id("file", pk) for pk in sides["BANK"]],
        "pgFileIds": [public_id("file", pk) for pk in sides["PG"]],
        "runIds": [public_id("run", r) for r in run_pks],
        "supersededBy": public_id("job", row.superseded_by_id) if row.superseded_by_id else None,
        "outcomes": summary.get("outcomes", {}),
        "pgRows": summary.get("pgRows"),
        "bankRows": summary.get("bankRows"),
        "exceptions": summary.get("exceptions"),
        "error": row.error_message,
        "createdAt": row.created_at.isoformat(),
        "startedAt": row.started_at.isoformat() if row.started_at else None,
        "finishedAt": row.finished_at.isoformat() if row.finished_at else None,
    }


async def _api_views(ctx: AppContext, rows: list[ReconJob]) -> list[dict[str, Any]]:
    """API views of ``rows`` with their input files and the runs that fetched them."""
    inputs: dict[int, list[tuple[str, int]]] = {}
    async with ctx.sessions() as session:
        found = await session.execute(
            select(ReconJobFile.job_id, ReconJobFile.side, ReconJobFile.file_id)
            .where(ReconJobFile.job_id.in_([r.id for r in rows]))
            .order_by(ReconJobFile.file_id)
        )
        for job_pk, side, file_pk in found:
            inputs.setdefault(job_pk, []).append((side, file_pk))
        file_pks = {pk for r in rows for pk in (r.bank_file_id, r.pg_file_id)}
        file_pks |= {pk for pairs in inputs.values() for _, pk in pairs}
        runs = {
            pk: run
            for pk, run in await session.execute(
                select(IngestedFile.id, IngestedFile.run_id).where(IngestedFile.id.in_(file_pks))
            )
        }
    return [_api_view(r, runs, inputs) for r in rows]


async def job_views(ctx: AppContext, pks: list[int]) -> list[dict[str, Any]]:
    """API views of the jobs ``pks``, in that order (unknown ones left out)."""
    async with ctx.sessions() as session:
        rows = (await session.scalars(select(ReconJob).where(ReconJob.id.in_(pks)))).all()
    by_pk = {r.id: r for r in rows}
    return await _api_views(ctx, [by_pk[pk] for pk in pks if pk in by_pk])


async def list_jobs(
    *,
    ctx: AppContext,
    provider: str | None,
    cycle_date: date | None,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """Jobs, newest first, filtered; superseded jobs are listed too (``supersededBy`` says so)."""
    query = select(ReconJob)
    if provider:
        query = query.where(ReconJob.provider == provider.upper())
    if cycle_date:
        query = query.where(ReconJob.cycle_date == cycle_date)
    if status:
        query = query.where(ReconJob.status == status)
    async with ctx.sessions() as session:
        page = await paginate(session, query, ReconJob.id, cursor=cursor, limit=limit)
    return {
        "jobs": await _api_views(ctx, list(page.rows)),
        "hasMore": page.more,
        "cursor": page.cursor,
    }


async def get_job(*, ctx: AppContext, job_id: str) -> dict[str, Any]:
    """One job as the API shows it; NotFound when there is none."""
    return (await _api_views(ctx, [await _job_row(ctx, job_id)]))[0]


# Jobs as the web UI shows them.


def _outcomes(
    summary: dict[str, Any] | None, exceptions: dict[str, int]
) -> dict[str, dict[str, int]]:
    """Count and paise per outcome: the job summary where it has them, else exception counts."""
    out: dict[str, dict[str, int]] = {}
    raw = (summary or {}).get("outcomes", summary or {})
    for outcome, value in raw.items() if isinstance(raw, dict) else ():
        if isinstance(value, dict):
            paise = value.get("paise", value.get("totalPaise", 0))
            out[str(outcome)] = {"count": int(value.get("count", 0)), "paise": int(paise or 0)}
        elif isinstance(value, int):
            out[str(outcome)] = {"count": value, "paise": 0}
    for kind, count in exceptions.items():
        out.setdefault(kind, {"count": count, "paise": 0})
    return dict(sorted(out.items(), key=lambda kv: (kv[0] not in MATCHED_OUTCOMES, kv[0])))


def _ui_view(row: ReconJob, exceptions: dict[str, int]) -> dict[str, Any]:
    """A job with count and paise per outcome and its open exceptions, dates as dates."""
    return {
        "id": public_id("job", row.id),
        "provider": row.provider,
        "cycleDate": row.cycle_date,
        "status": row.status,
        "outcomes": _outcomes(row.summary, exceptions),
        "openExceptions": sum(exceptions.values()),
        "error": row.error_message,
        "createdAt": row.created_at,
        "finishedAt": row.finished_at,
    }


async def _ui_views(ctx: AppContext, rows: list[ReconJob]) -> list[dict[str, Any]]:
    """UI views of ``rows`` with their exceptions counted per kind."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    if rows:
        async with ctx.sessions() as session:
            for job, kind, n in await session.execute(
                select(ReconException.job_id, ReconException.kind, func.count())
                .where(ReconException.job_id.in_([r.id for r in rows]))
                .group_by(ReconException.job_id, ReconException.kind)
            ):
                if job is not None:
                    counts[job][kind] = int(n)
    return [_ui_view(r, counts.get(r.id, {})) for r in rows]


async def list_jobs_for_ui(*, ctx: AppContext, limit: int = 200) -> list[dict[str, Any]]:
    """The newest jobs (superseded ones left out), newest cycle date first, as the UI shows them."""
    async with ctx.sessions() as session:
        rows = list(
            (
                await session.scalars(
                    select(ReconJob)
                    .where(ReconJob.superseded_by_id.is_(None))
                    .order_by(ReconJob.cycle_date.desc(), ReconJob.provider)
                    .limit(limit)
                )
            ).all()
        )
    return await _ui_views(ctx, rows)


async def get_job_for_ui(*, ctx: AppContext, job_id: str) -> dict[str, Any]:
    """One job with its outcome counts, as the UI shows it; NotFound when there is none."""
    return (await _ui_views(ctx, [await _job_row(ctx, job_id)]))[0]


# Exceptions.


def _exception_query(filters: dict[str, Any]) -> Select[Any]:
    """Exceptions matching every filter that is not None."""
    query = select(ReconException)
    columns = {
        "state": ReconException.state,
        "kind": ReconException.kind,
        "severity": ReconException.severity,
        "connector_pk": ReconException.connector_id,
        "cycle_date": ReconException.cycle_date,
        "provider": ReconException.provider,
        "job_pk": ReconException.job_id,
    }
    for name, column in columns.items():
        if filters.get(name) is not None:
            query = query.where(column == filters[name])
    return query


async def _exception_page(
    ctx: AppContext, filters: dict[str, Any], *, cursor: str | None, limit: int, oldest_first: bool
) -> dict[str, Any]:
    """A page of the exceptions matching ``filters``."""
    async with ctx.sessions() as session:
        page = await paginate(
            session,
            _exception_query(filters),
            ReconException.id,
            cursor=cursor,
            limit=limit,
            newest_first=not oldest_first,
        )
    return page.body("exceptions", exception_view)


async def list_exceptions(
    *, ctx: AppContext, cursor: str | None, limit: int, **filters: Any
) -> dict[str, Any]:
    """Exceptions, newest first, filtered by state, kind, severity, connector, date, job."""
    return await _exception_page(ctx, filters, cursor=cursor, limit=limit, oldest_first=False)


async def job_exceptions(
    *, ctx: AppContext, job_id: str, kind: str | None, cursor: str | None, limit: int
) -> dict[str, Any]:
    """A page of one job's exceptions, in file order."""
    filters = {"job_pk": parse_id("job", job_id), "kind": kind or None}
    return await _exception_page(ctx, filters, cursor=cursor, limit=limit, oldest_first=True)


# CSV downloads.


async def results_csv(*, ctx: AppContext, job_id: str) -> Iterator[bytes]:
    """Every outcome row of a completed job as CSV chunks (formula-escaped)."""
    row = await _job_row(ctx, job_id)
    key = (row.summary or {}).get("resultsKey")
    if row.status != "COMPLETED" or not key:
        raise Conflict(f"Recon job {job_id} is {row.status.lower()}; results exist once completed.")
    frame = pl.read_parquet(io.BytesIO(await ctx.store.read_bytes(str(key))))

    def chunks() -> Iterator[bytes]:
        for i, part in enumerate(frame.iter_slices(CSV_CHUNK_ROWS)):
            yield escape_formulas(part).write_csv(include_header=i == 0).encode()
        if frame.height == 0:
            yield frame.write_csv().encode()

    return chunks()


def _csv_text(value: Any) -> str | None:
    """A cell as text; empty as None, which polars writes as nothing (``""`` it writes quoted)."""
    return None if value is None else str(value) or None


async def job_csv(*, ctx: AppContext, job_id: str) -> str:
    """Every exception of a job as CSV text (formula-escaped, CRLF line ends)."""
    job = await _job_row(ctx, job_id)
    async with ctx.sessions() as session:
        query = _exception_query({"job_pk": job.id}).order_by(ReconException.id)
        rows = list((await session.scalars(query)).all())
    frame = pl.DataFrame(
        [[_csv_text(view[c]) for c in CSV_COLUMNS] for view in map(exception_view, rows)],
        schema=dict.fromkeys(CSV_COLUMNS, pl.String),
        orient="row",
    )
    return escape_formulas(frame).write_csv(line_terminator="\r\n")

"""Reads of recon jobs and exceptions for the API: filtered lists, one job, results as CSV."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import Select, select

from bankfeeds.core.errors import Conflict, NotFound
from bankfeeds.core.ids import decode_cursor, encode_cursor, parse_id, public_id
from bankfeeds.desk.exceptions import exception_view
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import IngestedFile, ReconException, ReconJob, ReconJobFile

CSV_CHUNK_ROWS = 20_000
#: First characters that make a spreadsheet treat a cell as a formula.
FORMULA_START = r"^[=+\-@\t\r]"


def _job_view(
    row: ReconJob, runs: dict[int, int | None], inputs: dict[int, list[tuple[str, int]]]
) -> dict[str, Any]:
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


async def _views(ctx: AppContext, rows: list[ReconJob]) -> list[dict[str, Any]]:
    """Job views with their input files and the runs that fetched them."""
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
    return [_job_view(r, runs, inputs) for r in rows]


async def job_views(ctx: AppContext, pks: list[int]) -> list[dict[str, Any]]:
    """Views of the jobs ``pks``, in that order."""
    async with ctx.sessions() as session:
        rows = (await session.scalars(select(ReconJob).where(ReconJob.id.in_(pks)))).all()
    by_pk = {r.id: r for r in rows}
    return await _views(ctx, [by_pk[pk] for pk in pks if pk in by_pk])


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
    query = select(ReconJob).order_by(ReconJob.id.desc()).limit(limit + 1)
    if provider:
        query = query.where(ReconJob.provider == provider.upper())
    if cycle_date:
        query = query.where(ReconJob.cycle_date == cycle_date)
    if status:
        query = query.where(ReconJob.status == status)
    if cursor:
        query = query.where(ReconJob.id < decode_cursor(cursor))
    async with ctx.sessions() as session:
        rows = list((await session.scalars(query)).all())
    page, more = rows[:limit], len(rows) > limit
    return {
        "jobs": await _views(ctx, page),
        "hasMore": more,
        "cursor": encode_cursor(page[-1].id) if more and page else None,
    }


async def get_job(*, ctx: AppContext, job_id: str) -> dict[str, Any]:
    """One job with its summary; NotFound when there is none."""
    views = await job_views(ctx, [parse_id("job", job_id)])
    if not views:
        raise NotFound(f"No recon job with id {job_id!r}.")
    return views[0]


def escape_formulas(df: pl.DataFrame) -> pl.DataFrame:
    """Prefix text cells a spreadsheet would run as a formula with a quote (numbers untouched)."""
    text = [c for c, t in df.schema.items() if t == pl.String]
    return df.with_columns(
        pl.when(pl.col(c).str.contains(FORMULA_START))
        .then("'" + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in text
    )


async def results_csv(*, ctx: AppContext, job_id: str) -> Iterator[bytes]:
    """Every outcome row of a completed job as CSV chunks (formula-escaped)."""
    pk = parse_id("job", job_id)
    async with ctx.sessions() as session:
        row = await session.get(ReconJob, pk)
    if row is None:
        raise NotFound(f"No recon job with id {job_id!r}.")
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


def _exception_query(filters: dict[str, Any]) -> Select[Any]:
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


async def list_exceptions(
    *, ctx: AppContext, cursor: str | None, limit: int, **filters: Any
) -> dict[str, Any]:
    """Exceptions, newest first, filtered by state, kind, severity, connector, date, job."""
    query = _exception_query(filters).order_by(ReconException.id.desc()).limit(limit + 1)
    if cursor:
        query = query.where(ReconException.id < decode_cursor(cursor))
    async with ctx.sessions() as session:
        rows: list[ReconException] = list((await session.scalars(query)).all())
    page, more = rows[:limit], len(rows) > limit
    return {
        "exceptions": [exception_view(r) for r in page],
        "hasMore": more,
        "cursor": encode_cursor(page[-1].id) if more and page else None,
    }

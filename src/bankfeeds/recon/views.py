"""Recon jobs as the UI shows them: by day and provider, outcome counts, exceptions, CSV.

Matching itself arrives with the recon issue; these reads use only the ``recon_job`` and
``recon_exception`` tables, so they show real jobs as soon as jobs are written.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from bankfeeds.core.errors import NotFound
from bankfeeds.core.ids import decode_cursor, encode_cursor, parse_id, public_id
from bankfeeds.desk.exceptions import exception_view
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import ReconException, ReconJob

MATCHED = ("MATCHED", "MATCHED_WITHIN_TOLERANCE")
CSV_COLUMNS = ("id", "kind", "severity", "state", "provider", "cycleDate", "sourceRow", "message")


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (text from bank files)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


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
    return dict(sorted(out.items(), key=lambda kv: (kv[0] not in MATCHED, kv[0])))


def _job_view(row: ReconJob, exceptions: dict[str, int]) -> dict[str, Any]:
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


async def _exception_counts(ctx: AppContext, job_pks: list[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    if not job_pks:
        return counts
    async with ctx.sessions() as session:
        for job, kind, n in await session.execute(
            select(ReconException.job_id, ReconException.kind, func.count())
            .where(ReconException.job_id.in_(job_pks))
            .group_by(ReconException.job_id, ReconException.kind)
        ):
            if job is not None:
                counts[job][kind] = int(n)
    return counts


async def list_jobs(*, ctx: AppContext, limit: int = 200) -> list[dict[str, Any]]:
    """The newest jobs (superseded ones left out), newest cycle date first."""
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
    counts = await _exception_counts(ctx, [r.id for r in rows])
    return [_job_view(r, counts.get(r.id, {})) for r in rows]


async def get_job(*, ctx: AppContext, job_id: str) -> dict[str, Any]:
    """One job with its outcome counts."""
    pk = parse_id("job", job_id)
    async with ctx.sessions() as session:
        row = await session.get(ReconJob, pk)
    if row is None:
        raise NotFound(f"No recon job with id {job_id!r}.")
    counts = await _exception_counts(ctx, [pk])
    return _job_view(row, counts.get(pk, {}))


async def job_exceptions(
    *, ctx: AppContext, job_id: str, kind: str | None, cursor: str | None, limit: int
) -> dict[str, Any]:
    """A page of one job's exceptions, in file order."""
    query = (
        select(ReconException)
        .where(ReconException.job_id == parse_id("job", job_id))
        .order_by(ReconException.id)
        .limit(limit + 1)
    )
    if kind:
        query = query.where(ReconException.kind == kind)
    if cursor:
        query = query.where(ReconException.id > decode_cursor(cursor))
    async with ctx.sessions() as session:
        rows = list((await session.scalars(query)).all())
    page, more = rows[:limit], len(rows) > limit
    return {
        "exceptions": [exception_view(r) for r in page],
        "hasMore": more,
        "cursor": encode_cursor(page[-1].id) if more and page else None,
    }


async def job_csv(*, ctx: AppContext, job_id: str) -> str:
    """Every exception of a job as CSV text."""
    await get_job(ctx=ctx, job_id=job_id)
    async with ctx.sessions() as session:
        rows = (
            await session.scalars(
                select(ReconException)
                .where(ReconException.job_id == parse_id("job", job_id))
                .order_by(ReconException.id)
            )
        ).all()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        view = exception_view(row)
        writer.writerow([_cell(view[c]) for c in CSV_COLUMNS])
    return out.getvalue()

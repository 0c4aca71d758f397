"""Shared steps of the bank-day scenarios: days written by hand, files as banks send them, and
what a day ended with (its files, jobs and exceptions)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from tests.integration.recon.helpers import DAY, jobs, make_connector, run_once, work_jobs
from tests.support.pipeline import PLANTED, publish

from bankfeeds.connectors.layouts import LAYOUTS
from bankfeeds.core.ids import parse_id
from bankfeeds.days import expectations
from bankfeeds.sandbox.generate import generate_day
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector, IngestedFile, ReconException, ReconJob

__all__ = [
    "AFTER",
    "DAY",
    "NEXT",
    "PLANTED",
    "SANDBOX",
    "SQLITE",
    "Bank",
    "Pg",
    "axis_file",
    "cheap",
    "counts",
    "current_jobs",
    "exceptions",
    "files",
    "generated",
    "jobs",
    "make_connector",
    "missing_days",
    "note_of",
    "pg_file",
    "publish",
    "run_once",
    "totals",
    "watch",
    "work_jobs",
]

NEXT = DAY + timedelta(days=1)
#: Connectors are made to exist from here: just after day 9's file fell due (a 'yesterday'
#: connector's day D is due on D+1 at 18:00 + 2 h IST, 14:30 UTC), so 10 Jan is the first day
#: they are blamed for.
CREATED = datetime(2025, 1, 10, 15, 0, tzinfo=UTC)
#: After the deadlines of 10 and 11 Jan (11 Jan is due 12 Jan 14:30 UTC), before 12 Jan's.
AFTER = datetime(2025, 1, 12, 15, 0, tzinfo=UTC)
AXIS_HEADER = list(LAYOUTS["AXIS"].header)
PG_HEADER = list(LAYOUTS["PG"].header)


def generated(root: Path, day: date = DAY, rows: int = 50) -> tuple[bytes, bytes]:
    """A generated AXIS file and PG export of ``day`` (written under ``root``, not published)."""
    axis, pg = generate_day(root / f"gen-{day:%Y%m%d}", day, providers=("AXIS",), rows=rows)
    return axis.read_bytes(), pg.read_bytes()


def table(data: bytes, encoding: str = "utf-8") -> list[list[str]]:
    """A CSV file's rows (header first)."""
    return list(csv.reader(io.StringIO(data.decode(encoding))))


def render(rows: Iterable[list[str]]) -> bytes:
    """Rows as a CSV file (LF line ends, minimal quoting)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def rebank(pg: bytes, name: Callable[[int, str], str]) -> bytes:
    """The PG export with each row's ``bank`` replaced by ``name(row_number, old_bank)``."""
    header, *body = table(pg)
    column = header.index("bank")
    for n, row in enumerate(body):
        row[column] = name(n, row[column])
    return render([header, *body])


def rupees(paise: int) -> str:
    """Paise as a plain rupee string: -100078 → '-1000.78'."""
    whole, frac = divmod(abs(paise), 100)
    return f"{'-' if paise < 0 else ''}{whole}.{frac:02d}"


@dataclass(frozen=True, slots=True)
class Pg:
    """One PG export row (amounts in paise)."""

    txn_id: str
    utr: str
    gross: int
    fee: int = 0
    tax: int = 0
    status: str = "SUCCESS"
    bank: str = "AXIS"

    @property
    def net(self) -> int:
        """Gross less fee and GST."""
        return self.gross - self.fee - self.tax


@dataclass(frozen=True, slots=True)
class Bank:
    """One AXIS file row (amounts in paise, written in rupees)."""

    txn_id: str
    utr: str
    gross: int
    net: int
    status: str = "SUCCESS"
    remarks: str = "Payment successful"


def pg_file(rows: Iterable[Pg], day: date = DAY) -> bytes:
    """The PG's export of ``rows`` in its layout."""
    created = f"{day:%Y-%m-%d}T10:00:00+05:30"
    settled = f"{day + timedelta(days=1):%Y-%m-%d}T11:00:00+05:30"
    body = [
        [r.txn_id, "MID1001", r.utr, str(r.gross), str(r.fee), str(r.tax), str(r.net), r.status,
         "UPI", r.bank, created, settled]
        for r in rows
    ]  # fmt: skip
    return render([PG_HEADER, *body])


def axis_row(r: Bank, day: date = DAY, money: Callable[[int], str] = rupees) -> list[str]:
    """One AXIS data row; ``money`` writes the amounts."""
    value = f"{day + timedelta(days=1):%Y-%m-%d}"
    return [r.txn_id, money(r.gross), money(r.net), value, r.utr, "", "", f"{day} 10:00:00",
            "AXIS", r.status, r.remarks]  # fmt: skip


def axis_file(rows: Iterable[Bank], day: date = DAY, money: Callable[[int], str] = rupees) -> bytes:
    """An AXIS settlement file of ``rows``."""
    return render([AXIS_HEADER, *(axis_row(r, day, money) for r in rows)])


async def watch(ctx: AppContext, *connector_ids: str) -> None:
    """Make the connectors exist since ``CREATED``, so 10 and 11 Jan are days they must deliver."""
    pks = [parse_id("connector", c) for c in connector_ids]
    async with ctx.sessions.begin() as session:
        await session.execute(
            update(Connector).where(Connector.id.in_(pks)).values(created_at=CREATED)
        )


def counts(job: ReconJob) -> dict[str, int]:
    """A finished job's outcome counts (outcomes that occurred)."""
    outcomes = (job.summary or {})["outcomes"]
    return {k: v["count"] for k, v in outcomes.items() if v["count"]}


def totals(outcomes: dict[str, Any]) -> dict[str, tuple[int, int, int, int]]:
    """Count, PG gross, bank gross and delta paise per outcome that occurred."""
    return {
        k: (v["count"], v["pgGrossPaise"], v["bankGrossPaise"], v["deltaPaise"])
        for k, v in outcomes.items()
        if v["count"]
    }


async def current_jobs(ctx: AppContext, day: date = DAY, provider: str = "AXIS") -> list[ReconJob]:
    """The provider-day's jobs that nothing superseded."""
    return [
        j
        for j in await jobs(ctx)
        if j.provider == provider and j.cycle_date == day and j.superseded_by_id is None
    ]


async def files(ctx: AppContext, day: date | None = None) -> list[IngestedFile]:
    """Every ingested file (of ``day``), oldest first."""
    query = select(IngestedFile).order_by(IngestedFile.id)
    if day is not None:
        query = query.where(IngestedFile.cycle_date == day)
    async with ctx.sessions() as session:
        return list((await session.scalars(query)).all())


async def exceptions(ctx: AppContext, kind: str, state: str | None = None) -> list[ReconException]:
    """Exceptions of ``kind`` (in ``state``), oldest first."""
    query = select(ReconException).where(ReconException.kind == kind).order_by(ReconException.id)
    if state is not None:
        query = query.where(ReconException.state == state)
    async with ctx.sessions() as session:
        return list((await session.scalars(query)).all())


def note_of(resolution: object) -> str:
    """The sentence of a system resolution (``{"note": ...}``, or the bare sentence RUN_FAILED's
    resolution in ``scheduling/retries.py`` writes)."""
    if isinstance(resolution, dict):
        return str(resolution["note"])
    assert isinstance(resolution, str)
    return resolution


async def missing_days(ctx: AppContext, connector_id: str) -> set[date]:
    """The days with an OPEN FILE_MISSING for the connector, after checking past both deadlines."""
    await expectations.check(ctx=ctx, now=AFTER)
    pk = parse_id("connector", connector_id)
    return {
        e.cycle_date
        for e in await exceptions(ctx, "FILE_MISSING", "OPEN")
        if e.connector_id == pk and e.cycle_date is not None
    }


#: Run a test on SQLite against the sandbox only (the cheap pair; CI has two cores).
SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
SANDBOX = pytest.mark.parametrize("target", ["sandbox"], indirect=True)


def cheap(test: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``test`` on SQLite against the sandbox only."""
    return SQLITE(SANDBOX(test))

"""The recon read model: jobs for the API and the UI, one job's exceptions, its CSV download."""

from __future__ import annotations

import csv
import hashlib
import io

import pytest
from sqlalchemy import select, update
from tests.support.pipeline import PLANTED
from tests.support.targets import Target

from bankfeeds.core.errors import NotFound
from bankfeeds.core.ids import public_id
from bankfeeds.recon import views
from bankfeeds.sandbox.generate import generate_day
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import ReconException, ReconJob

from .helpers import DAY, jobs, make_connector, run_once, work_jobs

EXCEPTIONS = sum(n for kind, n in PLANTED.items() if not kind.startswith("MATCHED"))


async def _completed_job(ctx: AppContext, target: Target) -> tuple[ReconJob, dict[str, str]]:
    """The day's one job, reconciled, and the connector id of each provider."""
    generate_day(target.local_dir, DAY, providers=("AXIS",), rows=50)
    ids = {p: await make_connector(ctx, target, p) for p in ("AXIS", "PG")}
    for connector_id in ids.values():
        await run_once(ctx, connector_id)
    await work_jobs(ctx)
    (job,) = await jobs(ctx)
    assert job.status == "COMPLETED", job.error_message
    return job, ids


@pytest.mark.parametrize("target", ["sandbox"], indirect=True)
async def test_jobs_as_the_api_and_the_ui_list_them(ctx: AppContext, target: Target) -> None:
    old, ids = await _completed_job(ctx, target)
    old_id = public_id("job", old.id)
    (shown,) = await views.list_jobs_for_ui(ctx=ctx)
    assert shown == await views.get_job_for_ui(ctx=ctx, job_id=old_id)
    assert (shown["id"], shown["cycleDate"], shown["status"]) == (old_id, DAY, "COMPLETED")
    assert shown["finishedAt"] == old.finished_at and shown["error"] is None
    assert {k: o["count"] for k, o in shown["outcomes"].items() if o["count"]} == PLANTED
    assert list(shown["outcomes"])[:2] == ["MATCHED", "MATCHED_WITHIN_TOLERANCE"]
    assert shown["openExceptions"] == EXCEPTIONS
    api = await views.get_job(ctx=ctx, job_id=old_id)
    assert (api["cycleDate"], api["status"], api["exceptions"]) == (
        DAY.isoformat(),
        "COMPLETED",
        EXCEPTIONS,
    )
    assert api["bankFileIds"] == [api["bankFileId"]] and len(api["runIds"]) == 2
    assert api["supersededBy"] is None and api["finishedAt"] == old.finished_at.isoformat()
    for read in (views.get_job_for_ui, views.get_job):
        with pytest.raises(NotFound):
            await read(ctx=ctx, job_id="job_999")

    # The bank restates the day: the UI shows the new job only, the API lists both.
    axis = target.local_dir / f"AXIS_RECON_{DAY:%Y%m%d}.csv"
    target.put(axis.name, "".join(axis.read_text().splitlines(keepends=True)[:-1]).encode())
    digest = hashlib.sha256((target.local_dir / axis.name).read_bytes()).hexdigest()
    target.put(axis.name + ".sha256", f"{digest}  {axis.name}\n".encode())
    await run_once(ctx, ids["AXIS"])
    _, new = await jobs(ctx)
    new_id = public_id("job", new.id)
    assert [j["id"] for j in await views.list_jobs_for_ui(ctx=ctx)] == [new_id]
    page = await views.list_jobs(
        ctx=ctx, provider="axis", cycle_date=DAY, status=None, cursor=None, limit=1
    )
    assert [j["id"] for j in page["jobs"]] == [new_id] and page["hasMore"] is True
    rest = await views.list_jobs(
        ctx=ctx, provider=None, cycle_date=None, status=None, cursor=page["cursor"], limit=5
    )
    assert [(j["id"], j["supersededBy"]) for j in rest["jobs"]] == [(old_id, new_id)]
    assert rest["hasMore"] is False and rest["cursor"] is None
    assert [j["id"] for j in await views.job_views(ctx, [new.id, 999, old.id])] == [
        new_id,
        old_id,
    ]


@pytest.mark.parametrize("target", ["sandbox"], indirect=True)
async def test_one_jobs_exceptions_page_and_csv(ctx: AppContext, target: Target) -> None:
    job, _ = await _completed_job(ctx, target)
    job_id = public_id("job", job.id)
    first = await views.job_exceptions(ctx=ctx, job_id=job_id, kind=None, cursor=None, limit=3)
    assert len(first["exceptions"]) == 3 and first["hasMore"] is True
    rest = await views.job_exceptions(
        ctx=ctx, job_id=job_id, kind=None, cursor=first["cursor"], limit=3
    )
    assert rest["hasMore"] is False and rest["cursor"] is None
    ids = [e["id"] for e in first["exceptions"] + rest["exceptions"]]
    assert len(ids) == EXCEPTIONS and ids == sorted(ids, key=lambda i: int(i.split("_")[1]))
    only = await views.job_exceptions(
        ctx=ctx, job_id=job_id, kind="AMOUNT_MISMATCH", cursor=None, limit=3
    )
    assert [e["kind"] for e in only["exceptions"]] == ["AMOUNT_MISMATCH"]
    inbox = await views.list_exceptions(ctx=ctx, cursor=None, limit=50, state="OPEN", kind=None)
    assert [e["id"] for e in inbox["exceptions"]] == ids[::-1] and inbox["hasMore"] is False

    # Text a spreadsheet would run is quoted; a missing row number is an empty cell.
    async with ctx.sessions.begin() as session:
        pks = list(
            await session.scalars(
                select(ReconException.id)
                .where(ReconException.job_id == job.id)
                .order_by(ReconException.id)
            )
        )
        messages = ("=cmd|' /C calc'!A0", '-1, "quoted"\nnext line', "\t@x", "plain")
        for pk, message in zip(pks, messages, strict=True):
            await session.execute(
                update(ReconException).where(ReconException.id == pk).values(message=message)
            )
        await session.execute(
            update(ReconException).where(ReconException.id == pks[0]).values(source_row=None)
        )
    text = await views.job_csv(ctx=ctx, job_id=job_id)
    assert text.startswith("id,kind,severity,state,provider,cycleDate,sourceRow,message\r\n")
    assert text.endswith("\r\n") and f"AXIS,{DAY.isoformat()},,'=cmd|' /C calc'!A0\r\n" in text
    table = list(csv.reader(io.StringIO(text, newline="")))
    assert [row[0] for row in table[1:]] == ids
    assert [row[7] for row in table[1:]] == [
        "'=cmd|' /C calc'!A0",
        '\'-1, "quoted"\nnext line',
        "'\t@x",
        "plain",
    ]
    assert table[1][6] == "" and all(row[6].isdigit() for row in table[2:])
    with pytest.raises(NotFound):
        await views.job_csv(ctx=ctx, job_id="job_999")

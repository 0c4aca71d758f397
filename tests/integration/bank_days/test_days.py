"""A day is a set of files: holidays, stale re-sends, parts and restatements (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.targets import Target

from bankfeeds.core.ids import public_id
from bankfeeds.pipeline import handoff
from bankfeeds.storage.context import AppContext

from .steps import (
    AXIS_HEADER,
    DAY,
    NEXT,
    PLANTED,
    cheap,
    counts,
    current_jobs,
    exceptions,
    files,
    generated,
    jobs,
    make_connector,
    missing_days,
    publish,
    render,
    run_once,
    table,
    watch,
    work_jobs,
)


@cheap
@pytest.mark.parametrize("force", [False, True])
async def test_two_identical_holiday_files_are_two_delivered_days(
    ctx: AppContext, target: Target, force: bool
) -> None:
    holiday = render([AXIS_HEADER])  # the bank sends its header and nothing else
    for day in (DAY, NEXT):
        publish(target, f"AXIS_RECON_{day:%Y%m%d}.csv", holiday)
    axis = await make_connector(ctx, target, "AXIS")
    await watch(ctx, axis)
    first = await run_once(ctx, axis, DAY, force=force)
    second = await run_once(ctx, axis, NEXT, force=force)

    assert (first["status"], second["status"]) == ("SUCCESS", "SUCCESS")
    assert [f["outcome"] for f in second["files"]] == ["DOWNLOADED"]
    ten, eleven = await files(ctx, DAY), await files(ctx, NEXT)
    assert [(f.status, f.row_count) for f in ten + eleven] == [("NORMALIZED", 0)] * 2
    assert ten[0].sha256 == eleven[0].sha256
    assert ten[0].object_key == eleven[0].object_key  # the bytes are stored once
    assert await missing_days(ctx, axis) == set()
    assert await jobs(ctx) == []


@cheap
@pytest.mark.parametrize("fix", ["accept", "different file"])
async def test_yesterdays_file_resent_as_today_is_stale_until_settled(
    ctx: AppContext, target: Target, tmp_path: Path, fix: str
) -> None:
    axis10, pg10 = generated(tmp_path, DAY)
    axis11, pg11 = generated(tmp_path, NEXT)
    publish(target, "AXIS_RECON_20250110.csv", axis10)
    publish(target, "PG_TXN_20250110.csv", pg10)
    publish(target, "PG_TXN_20250111.csv", pg11)
    publish(target, "AXIS_RECON_20250111.csv", axis10)  # yesterday's bytes under today's name
    ids = {p: await make_connector(ctx, target, p) for p in ("AXIS", "PG")}
    await watch(ctx, *ids.values())
    for day in (DAY, NEXT):
        await run_once(ctx, ids["PG"], day)
    await run_once(ctx, ids["AXIS"], DAY)
    run = await run_once(ctx, ids["AXIS"], NEXT)

    assert run["status"] == "FAILED"  # its only file is no delivery
    (stale,) = [f for f in await files(ctx, NEXT) if f.provider == "AXIS"]
    assert (stale.status, stale.row_count) == ("STALE", 50)
    (first,) = [f for f in await files(ctx, DAY) if f.provider == "AXIS"]
    (exc,) = await exceptions(ctx, "STALE_FILE")
    assert (exc.state, exc.severity, exc.cycle_date, exc.file_id) == (
        "OPEN",
        "HIGH",
        NEXT,
        stale.id,
    )
    assert "2025-01-10" in exc.message and "2025-01-11" in exc.message
    assert exc.data is not None
    assert (exc.data["sameAsDate"], exc.data["sameAsFileId"]) == (
        "2025-01-10",
        public_id("file", first.id),
    )
    assert await missing_days(ctx, ids["AXIS"]) == {NEXT}
    assert [j.cycle_date for j in await jobs(ctx)] == [DAY]  # nothing reconciles 11 Jan

    if fix == "accept":
        accepted = await handoff.accept_file(
            ctx=ctx, file_id=public_id("file", stale.id), actor="ops"
        )
        assert accepted["status"] == "NORMALIZED" and len(accepted["jobIds"]) == 1
        note = "Accepted by ops"
        expected = {"MISSING_IN_BANK": 50, "MISSING_IN_PG": 50}  # 10 Jan's money vs 11 Jan's
    else:
        publish(target, "AXIS_RECON_20250111.csv", axis11)  # the bank sends the real file
        again = await run_once(ctx, ids["AXIS"], NEXT)
        assert again["status"] == "SUCCESS"
        note = "A different file arrived"
        expected = PLANTED
    (exc,) = await exceptions(ctx, "STALE_FILE")
    assert (exc.state, exc.owner) == ("RESOLVED", "system")
    assert exc.data is not None and exc.data["resolution"]["note"].startswith(note)
    assert await missing_days(ctx, ids["AXIS"]) == set()
    await work_jobs(ctx)
    (job,) = await current_jobs(ctx, NEXT)
    assert job.status == "COMPLETED", job.error_message
    assert counts(job) == expected


def _parts(axis: bytes, cut: int) -> tuple[bytes, bytes]:
    """The AXIS file split after its ``cut``-th row into two files, each with the header."""
    header, *rows = table(axis)
    return render([header, *rows[:cut]]), render([header, *rows[cut:]])


async def test_a_day_in_two_parts_is_reconciled_as_one(
    ctx: AppContext, target: Target, tmp_path: Path
) -> None:
    axis, pg = generated(tmp_path)
    one, two = _parts(axis, 20)
    publish(target, "AXIS_RECON_20250110_1.csv", one)
    publish(target, "PG_TXN_20250110.csv", pg)
    ids = {p: await make_connector(ctx, target, p) for p in ("AXIS", "PG")}
    for cid in ids.values():
        await run_once(ctx, cid)
    await work_jobs(ctx)
    (early,) = await jobs(ctx)
    assert early.summary is not None  # part 2's rows are not in yet: 30 PG rows go unmatched
    assert (early.summary["bankRows"], early.summary["pgRows"]) == (20, 50)
    assert counts(early)["MISSING_IN_BANK"] + counts(early)["MATCHED"] > 30

    publish(target, "AXIS_RECON_20250110_2.csv", two)
    run = await run_once(ctx, ids["AXIS"])
    assert run["status"] == "SUCCESS" and run["filesDownloaded"] == 1
    await work_jobs(ctx)
    early, job = await jobs(ctx)
    assert early.superseded_by_id == job.id
    assert [j.id for j in await current_jobs(ctx)] == [job.id]
    assert job.status == "COMPLETED", job.error_message
    assert counts(job) == PLANTED
    assert job.summary is not None and (job.summary["bankRows"], job.summary["pgRows"]) == (50, 50)
    day = await files(ctx, DAY)
    assert {f.status for f in day} == {"MATCHED"}
    assert sorted(f.row_count or 0 for f in day if f.provider == "AXIS") == [20, 30]


@cheap
async def test_a_corrected_resend_replaces_the_file_it_restates(
    ctx: AppContext, target: Target, tmp_path: Path
) -> None:
    axis, pg = generated(tmp_path)
    publish(target, "AXIS_RECON_20250110.csv", axis)
    publish(target, "PG_TXN_20250110.csv", pg)
    ids = {p: await make_connector(ctx, target, p) for p in ("AXIS", "PG")}
    for cid in ids.values():
        await run_once(ctx, cid)
    await work_jobs(ctx)
    # The restatement drops the last row (the row the PG never had).
    header, *rows = table(axis)
    publish(target, "AXIS_RECON_20250110_v2.csv", render([header, *rows[:-1]]))
    await run_once(ctx, ids["AXIS"])
    await work_jobs(ctx)

    old, new = await jobs(ctx)
    assert old.superseded_by_id == new.id and new.superseded_by_id is None
    assert counts(old) == PLANTED
    assert counts(new) == {k: n for k, n in PLANTED.items() if k != "MISSING_IN_PG"}
    assert new.summary is not None and new.summary["bankRows"] == 49


@cheap
@pytest.mark.parametrize("arrival", ["same run", "original late"])
async def test_a_restatement_wins_over_its_original_whatever_the_arrival(
    ctx: AppContext, target: Target, tmp_path: Path, arrival: str
) -> None:
    axis, pg = generated(tmp_path)
    header, *rows = table(axis)
    publish(target, "AXIS_RECON_20250110_v2.csv", render([header, *rows[:-1]]))
    publish(target, "PG_TXN_20250110.csv", pg)
    ids = {p: await make_connector(ctx, target, p) for p in ("AXIS", "PG")}
    if arrival == "original late":  # the original was still uploading when v2 was fetched
        await run_once(ctx, ids["AXIS"])
    publish(target, "AXIS_RECON_20250110.csv", axis)
    for cid in ids.values():
        await run_once(ctx, cid)
    await work_jobs(ctx)
    (job,) = await current_jobs(ctx)
    # In one run the two files download concurrently, so "newest id" is either of them.
    assert counts(job) == {k: n for k, n in PLANTED.items() if k != "MISSING_IN_PG"}

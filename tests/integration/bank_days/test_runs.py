"""Runs tell the truth: bad files spoil the run, fixed causes close, an empty match says why."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.support.targets import Target

from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import ReconException

from .steps import (
    AXIS_HEADER,
    cheap,
    exceptions,
    files,
    generated,
    make_connector,
    note_of,
    publish,
    render,
    run_once,
    table,
)


def _spoil(axis: bytes, lines: range) -> bytes:
    """The AXIS file with an unreadable amount on the given 1-based lines."""
    rows = table(axis)
    column = rows[0].index("CREDIT_AMT")
    for line in lines:
        rows[line - 1][column] = "12,3x.00"
    return render(rows)


@cheap
async def test_a_quarantined_file_makes_the_run_partial_and_says_why(
    ctx: AppContext, target: Target, tmp_path: Path
) -> None:
    axis, _ = generated(tmp_path)
    publish(target, "AXIS_RECON_20250110_1.csv", axis)
    publish(target, "AXIS_RECON_20250110_2.csv", _spoil(axis, range(2, 30)))  # 28 of 50 bad
    run = await run_once(ctx, await make_connector(ctx, target, "AXIS"))

    assert run["status"] == "PARTIAL"
    assert (run["filesDownloaded"], run["filesQuarantined"], run["filesFailed"]) == (1, 1, 0)
    assert run["error"] is not None and "AXIS_RECON_20250110_2.csv" in run["error"]
    good, bad = sorted(run["files"], key=lambda f: f["name"])
    assert (good["status"], good["rows"], good["badRowCount"], good["badRows"]) == (
        "NORMALIZED",
        50,
        0,
        [],
    )
    assert (bad["status"], bad["rows"], bad["badRowCount"]) == ("QUARANTINED", 22, 28)
    assert [b["line"] for b in bad["badRows"]] == list(range(2, 30))
    assert bad["badRows"][0]["reason"] == "invalid amount '12,3x.00' in CREDIT_AMT"
    assert bad["reason"] is not None and "above the 5.0% limit" in bad["reason"]


@cheap
async def test_an_unreadable_file_fails_the_run(ctx: AppContext, target: Target) -> None:
    publish(target, "AXIS_RECON_20250110.csv", b"Dear customer,\nno report today.\n")
    run = await run_once(ctx, await make_connector(ctx, target, "AXIS"))

    assert run["status"] == "FAILED"
    assert (run["filesDownloaded"], run["filesFailed"]) == (0, 1)
    (only,) = run["files"]
    assert (only["status"], only["rows"]) == ("ERROR", None)
    assert only["reason"] is not None and "header_row" in only["reason"]
    (exc,) = await exceptions(ctx, "PARSE_ERROR", "OPEN")
    assert exc.severity == "HIGH" and "could not be read" in exc.message


@pytest.mark.parametrize("fix", ["sidecar", "file"])
async def test_a_fixed_checksum_problem_leaves_nothing_open(
    ctx: AppContext, target: Target, tmp_path: Path, fix: str
) -> None:
    name = "AXIS_RECON_20250110.csv"
    axis, _ = generated(tmp_path)
    good = f"{hashlib.sha256(axis).hexdigest()}  {name}\n"
    if fix == "sidecar":
        publish(target, name, axis, sidecar=f"{'0' * 64}  {name}\n")
    else:  # the file was cut short in transit; the sidecar is right
        publish(target, name, axis[: len(axis) // 2], sidecar=good)
    axis_id = await make_connector(ctx, target, "AXIS")
    first = await run_once(ctx, axis_id)
    assert first["status"] == "FAILED" and first["filesQuarantined"] == 1
    assert [e.state for e in await exceptions(ctx, "CHECKSUM_MISMATCH")] == ["OPEN"]

    publish(target, name, axis, sidecar=good)
    second = await run_once(ctx, axis_id)
    assert second["status"] == "SUCCESS"
    day = await files(ctx)
    assert [f.status for f in day][-1] == "NORMALIZED" and day[-1].row_count == 50
    async with ctx.sessions() as session:
        every = list((await session.scalars(select(ReconException))).all())
    assert {e.kind for e in every} <= {"CHECKSUM_MISMATCH", "RUN_FAILED"}
    assert "CHECKSUM_MISMATCH" in {e.kind for e in every}
    for exc in every:
        assert (exc.kind, exc.state, exc.owner) == (exc.kind, "RESOLVED", "system")
        assert exc.data is not None and note_of(exc.data["resolution"])


@cheap
async def test_a_run_matching_no_file_names_the_nearest(ctx: AppContext, target: Target) -> None:
    header = render([AXIS_HEADER])
    for other in ("AXIS_RECON_20250110.CSV", "AXIS_RECON_20250109.csv", "README.txt"):
        publish(target, other, header)
    run = await run_once(ctx, await make_connector(ctx, target, "AXIS"))

    assert run["filesDiscovered"] == 0 and run["errorCode"] == "no-file"
    assert run["status"] == "SUCCESS"
    message = run["error"]
    assert message is not None and "AXIS_RECON_YYYYMMDD*.csv" in message
    assert "AXIS_RECON_20250110.CSV" in message and "AXIS_RECON_20250109.csv" in message
    assert "README.txt" not in message
    assert message.index("AXIS_RECON_20250110.CSV") < message.index("AXIS_RECON_20250109.csv")

"""Bank identity: PG rows find their bank by its aliases, and a name nobody knows is told."""

from __future__ import annotations

from pathlib import Path

from tests.support.targets import Target

from bankfeeds.connectors.layouts import LAYOUTS
from bankfeeds.connectors.model import ConnectorPatch
from bankfeeds.core.ids import public_id
from bankfeeds.days import expectations
from bankfeeds.pipeline import handoff
from bankfeeds.recon import jobs as recon
from bankfeeds.storage.context import AppContext

from .steps import (
    AFTER,
    DAY,
    PLANTED,
    cheap,
    counts,
    exceptions,
    files,
    generated,
    jobs,
    make_connector,
    publish,
    rebank,
    run_once,
    watch,
    work_jobs,
)

SPELLINGS = ("AXIS BANK", "UTIB0000123", "Axis Bank Ltd.", "axis")


async def test_pg_rows_naming_the_bank_by_any_alias_are_reconciled(
    ctx: AppContext, target: Target, tmp_path: Path
) -> None:
    axis, pg = generated(tmp_path)
    publish(target, "AXIS_RECON_20250110.csv", axis)
    publish(target, "PG_TXN_20250110.csv", rebank(pg, lambda n, _: SPELLINGS[n % 4]))
    for provider in ("AXIS", "PG"):
        await run_once(ctx, await make_connector(ctx, target, provider))
    await work_jobs(ctx)
    (job,) = await jobs(ctx)
    assert job.status == "COMPLETED", job.error_message
    assert counts(job) == PLANTED
    assert await exceptions(ctx, "UNKNOWN_BANK") == []


@cheap
async def test_an_unknown_bank_name_is_told_until_it_is_an_alias(
    ctx: AppContext, target: Target, tmp_path: Path
) -> None:
    axis, pg = generated(tmp_path)
    publish(target, "AXIS_RECON_20250110.csv", axis)
    publish(target, "PG_TXN_20250110.csv", rebank(pg, lambda _n, _b: "AXS Payments"))
    ids = {p: await make_connector(ctx, target, p) for p in ("AXIS", "PG")}
    await watch(ctx, *ids.values())
    for cid in ids.values():
        assert (await run_once(ctx, cid))["status"] == "SUCCESS"
    assert await jobs(ctx) == []
    (pg_file,) = [f for f in await files(ctx) if f.provider == "PG"]
    (unknown,) = await exceptions(ctx, "UNKNOWN_BANK", "OPEN")
    assert unknown.file_id == pg_file.id and unknown.data is not None
    assert unknown.data["banks"] == ["AXS PAYMENTS"]
    assert "AXS PAYMENTS" in unknown.message and "bankAliases" in unknown.message

    await expectations.check(ctx=ctx, now=AFTER)
    (lonely,) = await exceptions(ctx, "COUNTERPART_MISSING", "OPEN")
    assert (lonely.provider, lonely.cycle_date) == ("AXIS", DAY)
    assert lonely.data is not None and lonely.data["rows"] == 50

    patch = ConnectorPatch.model_validate({"config": {"bankAliases": ["AXS Payments"]}})
    await handoff.update_connector(ctx=ctx, connector_id=ids["AXIS"], body=patch, actor="ops")
    (view,) = await recon.rerun(ctx=ctx, provider="AXIS", cycle_date=DAY, actor="ops")
    await work_jobs(ctx)
    (job,) = await jobs(ctx)
    assert view["id"] == public_id("job", job.id)
    assert job.status == "COMPLETED", job.error_message
    assert counts(job) == PLANTED
    (lonely,) = await exceptions(ctx, "COUNTERPART_MISSING")
    assert (lonely.state, lonely.owner) == ("RESOLVED", "system")
    # The name is known now: the PG file's UNKNOWN_BANK has no cause left either.
    (unknown,) = await exceptions(ctx, "UNKNOWN_BANK")
    assert (unknown.state, unknown.owner) == ("RESOLVED", "system")


@cheap
async def test_a_custom_layouts_name_is_its_bank(
    ctx: AppContext, target: Target, tmp_path: Path
) -> None:
    axis, pg = generated(tmp_path)
    layout = LAYOUTS["AXIS"].model_dump(mode="json") | {"name": "Federal", "file_pattern": ""}
    publish(target, "FEDERAL_20250110.csv", axis)
    # Half the PG rows say the layout's name, half an IFSC whose prefix is a configured alias.
    names = ("FEDERAL", "FDRL0001234")
    publish(target, "PG_TXN_20250110.csv", rebank(pg, lambda n, _: names[n % 2]))
    custom = await make_connector(
        ctx,
        target,
        "CUSTOM",
        layout=layout,
        filePattern="FEDERAL_YYYYMMDD*.csv",
        bankAliases=["FDRL"],
    )
    pg_id = await make_connector(ctx, target, "PG")
    for cid in (custom, pg_id):
        await run_once(ctx, cid)
    await work_jobs(ctx)
    (job,) = await jobs(ctx)
    assert job.provider == "FEDERAL"
    assert job.status == "COMPLETED", job.error_message
    assert counts(job) == PLANTED
    assert await exceptions(ctx, "UNKNOWN_BANK") == []

"""``bankfeeds demo``: sandbox, server, worker, demo connectors and their first runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

import uvicorn

from bankfeeds.api.app import create_app
from bankfeeds.config import Settings
from bankfeeds.sandbox.bank_api import run_bank_api
from bankfeeds.sandbox.server import start_sandbox
from bankfeeds.services import operations, recon_queries, tokens
from bankfeeds.services.context import AppContext
from bankfeeds.services.demo import (
    DEMO_API_PROVIDER,
    DEMO_BANK_TOKEN,
    DEMO_DAYS,
    DEMO_PROVIDERS,
    ensure_demo_connectors,
    seed_missing_days,
)
from bankfeeds.services.recon_views import MATCHED


async def run_demo(
    settings: Settings,
    *,
    port: int,
    sandbox_port: int,
    bank_api_port: int,
    say: Callable[[str], None],
    token_out: Callable[[str], None],
) -> None:
    """Run everything until interrupted; prints the admin token on stdout as soon as it exists."""
    root = settings.data_dir / "sftp"
    sandbox = await start_sandbox(
        root=root,
        host_key_path=settings.data_dir / "sandbox_host_key",
        host="127.0.0.1",
        port=sandbox_port,
        users={settings.sftp_user: settings.sftp_pass.get_secret_value()},
    )
    bank_api = await asyncio.to_thread(
        run_bank_api, root / "upload", DEMO_BANK_TOKEN, bank_api_port, provider=DEMO_API_PROVIDER
    )
    # The demo's bank API is on loopback over plain http, which API connectors refuse unless
    # the host is allowlisted.
    settings = settings.model_copy(
        update={"api_allow_hosts": settings.api_allow_hosts | {"127.0.0.1"}}
    )
    ctx = AppContext.build(settings)
    try:
        today = ctx.clock().astimezone(ZoneInfo(settings.scheduler_timezone)).date()
        seeded = await asyncio.to_thread(seed_missing_days, root / "upload", today)
        ids = await ensure_demo_connectors(
            ctx=ctx,
            host=sandbox.host,
            port=sandbox.port,
            fingerprint=sandbox.fingerprint,
            bank_api_url=bank_api.url,
        )
        name = f"demo-admin-{ctx.clock():%Y%m%d%H%M%S}"
        _, token = await tokens.create_token(ctx=ctx, name=name, role="admin", actor="demo")
        token_out(token)
        say(f"sandbox SFTP on 127.0.0.1:{sandbox.port} (host key {sandbox.fingerprint})")
        say(f"sandbox bank API on {bank_api.url} ({DEMO_API_PROVIDER} files, bearer token)")
        say(f"seeded {len(seeded)} new day(s) of sample files; connectors: {', '.join(ids)}")
        say(f"bankfeeds demo: open http://127.0.0.1:{port}/ui and log in with the token above")
        say(f"API docs at http://127.0.0.1:{port}/docs")
        say("the admin token above is on stdout; export it as TOKEN for the README's curl calls")
        app = create_app(ctx, own_context=False)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn has no event
            await asyncio.sleep(0.05)
        if serving.done():
            await serving  # re-raises why the server could not start
            return
        # Yesterday is left for the newcomer's own run-now (the README's step 3).
        start, end = today - timedelta(days=DEMO_DAYS), today - timedelta(days=2)
        for cid in ids:
            await operations.backfill(
                ctx=ctx,
                worker=app.state.worker,
                connector_id=cid,
                start=start,
                end=end,
                force=False,
                actor="demo",
            )
        say(f"fetching {start} to {end} for each connector; yesterday is left for your run-now")
        reporting = asyncio.create_task(_report_recon(ctx, (end - start).days + 1, say))
        await serving
        reporting.cancel()
    finally:
        await ctx.close()
        await sandbox.close()
        await asyncio.to_thread(bank_api.stop)


async def _report_recon(ctx: AppContext, days: int, say: Callable[[str], None]) -> None:
    """Say how each demo day reconciled, once the worker has matched them all (or gave up)."""
    wanted = days * (len(DEMO_PROVIDERS) - 1)  # one job per bank provider and day
    for _ in range(180):
        page = await recon_queries.list_jobs(
            ctx=ctx, provider=None, cycle_date=None, status="COMPLETED", cursor=None, limit=200
        )
        done = [j for j in page["jobs"] if j["supersededBy"] is None]
        if len(done) >= wanted:
            break
        await asyncio.sleep(1)
    for job in sorted(done, key=lambda j: (j["cycleDate"], j["provider"])):
        matched = sum(job["outcomes"].get(k, {}).get("count", 0) for k in MATCHED)
        say(
            f"reconciled {job['provider']} {job['cycleDate']}: {matched} matched, "
            f"{job['exceptions']} exceptions ({job['id']}; GET /ops/exceptions?jobId={job['id']})"
        )

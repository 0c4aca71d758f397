"""``bankfeeds demo``: sandbox, server, worker, demo connectors, their first runs and their recon.

What a person reads goes to ``say`` in this order: where everything listens, what is fetched, how
each seeded day reconciled, and the admin token alone on the very last line, so that the token is
what the terminal ends with. Logs (uvicorn, workers, the pipeline) go to a file, not between them.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from sqlalchemy import select

from bankfeeds.access import tokens
from bankfeeds.core.config import Settings
from bankfeeds.http.app import create_app
from bankfeeds.pipeline import operations
from bankfeeds.sandbox.bank_api import run_bank_api
from bankfeeds.sandbox.demo import (
    DEMO_API_PROVIDER,
    DEMO_BANK_TOKEN,
    ensure_demo_connectors,
    seed_missing_days,
)
from bankfeeds.sandbox.generate import SANDBOX_BANKS, seeded_days
from bankfeeds.sandbox.server import start_sandbox
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import ReconJob

#: How the last line of the demo's output starts; the README documents it.
TOKEN_LINE_PREFIX = "Admin token: "  # noqa: S105 - a label; the token follows it
#: How long the demo waits for every seeded day's recon before it reports and hands over.
DEFAULT_WAIT_SECONDS = 300.0
_POLL_SECONDS = 0.5
#: Job statuses that will not change without someone acting.
_SETTLED = frozenset({"COMPLETED", "FAILED"})
_MATCHED = ("MATCHED", "MATCHED_WITHIN_TOLERANCE")
_HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class DayJob:
    """The current (not superseded) recon job of one provider and day, as the summary shows it."""

    provider: str
    status: str
    outcomes: Mapping[str, int]
    error: str | None = None


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0 = a free port the OS picks), for uvicorn to serve.

    Binding before anything starts means a port already in use fails the demo at once, and a
    caller (a test) can ask for port 0 and still learn the port from the printed URLs.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


async def run_demo(
    settings: Settings,
    *,
    port: int,
    sandbox_port: int,
    bank_api_port: int,
    log_path: Path,
    say: Callable[[str], None],
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
) -> None:
    """Run everything until interrupted; the admin token is the last line ``say`` gets."""
    async with AsyncExitStack() as stack:
        listener = stack.enter_context(listen_socket(_HOST, port))
        root = settings.data_dir / "sftp"
        sandbox = await start_sandbox(
            root=root,
            host_key_path=settings.data_dir / "sandbox_host_key",
            host=_HOST,
            port=sandbox_port,
            users={settings.sftp_user: settings.sftp_pass.get_secret_value()},
        )
        stack.push_async_callback(sandbox.close)
        bank_api = await asyncio.to_thread(
            run_bank_api,
            root / "upload",
            DEMO_BANK_TOKEN,
            bank_api_port,
            provider=DEMO_API_PROVIDER,
        )
        stack.push_async_callback(asyncio.to_thread, bank_api.stop)
        # The demo's bank API (plain http) and SFTP sandbox are on loopback, which connectors
        # refuse unless the host is allowlisted.
        allowed = {
            "api_allow_hosts": settings.api_allow_hosts | {_HOST},
            "sftp_allow_hosts": settings.sftp_allow_hosts | {sandbox.host},
        }
        ctx = AppContext.build(settings.model_copy(update=allowed))
        stack.push_async_callback(ctx.close)

        today = ctx.clock().astimezone(ZoneInfo(settings.scheduler_timezone)).date()
        made = await asyncio.to_thread(seed_missing_days, root / "upload", today)
        days = seeded_days(today)  # the very days seed_missing_days wrote or found
        ids = await ensure_demo_connectors(
            ctx=ctx,
            host=sandbox.host,
            port=sandbox.port,
            fingerprint=sandbox.fingerprint,
            bank_api_url=bank_api.url,
        )
        name = f"demo-admin-{ctx.clock():%Y%m%d%H%M%S}"
        _, token = await tokens.create_token(ctx=ctx, name=name, role="admin", actor="demo")
        app = create_app(ctx, own_context=False)
        server = uvicorn.Server(uvicorn.Config(app, log_config=None))
        serving = asyncio.create_task(server.serve(sockets=[listener]))
        while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn has no event
            await asyncio.sleep(0.05)
        if serving.done():
            await serving  # re-raises why the server could not start
            return
        say(f"sandbox SFTP on {sandbox.host}:{sandbox.port} (host key {sandbox.fingerprint})")
        say(f"sandbox bank API on {bank_api.url} ({DEMO_API_PROVIDER} files, bearer token)")
        say(f"sandbox days {days[0]} to {days[-1]} ({len(made)} newly seeded)")
        for cid in ids:
            await operations.backfill(
                ctx=ctx,
                worker=app.state.worker,
                connector_id=cid,
                start=days[0],
                end=days[-1],
                force=False,
                actor="demo",
            )
        say(
            f"fetching {days[0]} to {days[-1]} with {', '.join(ids)} and reconciling every day "
            f"(up to {wait_seconds:.0f} s)..."
        )
        state = await wait_for_recon(ctx, days, SANDBOX_BANKS, wait_seconds, stop=serving)
        if serving.done():  # stopped while waiting: nothing more to say, no token to hand over
            await serving
            return
        url = f"http://{_HOST}:{listener.getsockname()[1]}"
        for day in days:
            say(day_line(day, state[day], SANDBOX_BANKS))
        say(f"each job's outcomes: GET {url}/ops/recon/jobs?date=YYYY-MM-DD")
        say(f"bankfeeds demo: web UI {url}/ui, API docs {url}/docs")
        say(f"logs (server, workers, pipeline): {log_path}")
        say("log in with the token below; export it as TOKEN for the README's curl calls")
        say(f"{TOKEN_LINE_PREFIX}{token}")
        await serving


async def recon_state(ctx: AppContext, days: Sequence[date]) -> dict[date, dict[str, DayJob]]:
    """The current recon job of each provider on each of ``days`` (days without one map to {})."""
    async with ctx.sessions() as session:
        rows = (
            await session.scalars(
                select(ReconJob)
                .where(ReconJob.cycle_date.in_(list(days)), ReconJob.superseded_by_id.is_(None))
                .order_by(ReconJob.id)
            )
        ).all()
    state: dict[date, dict[str, DayJob]] = {day: {} for day in days}
    for row in rows:  # oldest first, so the newest current job of a provider wins
        state[row.cycle_date][row.provider] = DayJob(
            provider=row.provider,
            status=row.status,
            outcomes=outcome_counts(row.summary),
            error=row.error_message,
        )
    return state


def outcome_counts(summary: Mapping[str, Any] | None) -> dict[str, int]:
    """Rows per outcome from a job summary (``{"outcomes": {name: {"count": n, ...}}}``)."""
    raw = (summary or {}).get("outcomes") or {}
    counts: dict[str, int] = {}
    for name, value in raw.items():
        count = value.get("count", 0) if isinstance(value, Mapping) else value
        if isinstance(count, int):
            counts[str(name)] = count
    return counts


def is_settled(jobs: Mapping[str, DayJob], providers: Iterable[str]) -> bool:
    """Whether every provider has a current job of the day that has finished (or failed)."""
    return all(p in jobs and jobs[p].status in _SETTLED for p in providers)


async def wait_for_recon(
    ctx: AppContext,
    days: Sequence[date],
    providers: Sequence[str],
    wait_seconds: float,
    *,
    stop: asyncio.Task[Any],
) -> dict[date, dict[str, DayJob]]:
    """Poll until every provider's job of every day has settled, ``stop`` ended, or time is up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        state = await recon_state(ctx, days)
        if all(is_settled(state[d], providers) for d in days):
            return state
        if stop.done() or loop.time() >= deadline:
            return state
        await asyncio.sleep(_POLL_SECONDS)


def day_line(day: date, jobs: Mapping[str, DayJob], providers: Sequence[str]) -> str:
    """One summary line for a day: its jobs' states, then the outcome counts summed over them.

    Outcomes no row had are left out, so the line shows what happened rather than every kind.
    """
    totals: dict[str, int] = {}
    for job in jobs.values():
        for name, count in job.outcomes.items():
            if count:
                totals[name] = totals.get(name, 0) + count
    order = [n for n in _MATCHED if n in totals] + sorted(n for n in totals if n not in _MATCHED)
    counts = ", ".join(f"{name} {totals[name]}" for name in order) or "no outcomes"
    if all(p in jobs and jobs[p].status == "COMPLETED" for p in providers):
        return f"{day} reconciled ({', '.join(providers)} COMPLETED): {counts}"
    states = []
    for p in providers:
        current = jobs.get(p)
        if current is None:
            states.append(f"{p} no job")
        elif current.status == "FAILED" and current.error:
            states.append(f"{p} FAILED ({current.error})")
        else:
            states.append(f"{p} {current.status}")
    return f"{day} NOT fully reconciled ({', '.join(states)}): {counts}"

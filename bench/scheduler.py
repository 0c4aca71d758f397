"""Scheduler benchmark: 10,000 active connectors on PostgreSQL, two worker processes.

Each connector runs hourly at minute ``i % 60``, so about 167 slots fall due every minute. The
workers schedule and execute them against the embedded sandbox (an empty directory, so a run is
a real SSH login and listing). Reported: the p50/p99/max delay between a slot's time and its run
starting, whether every slot in the window ran exactly once, and the workers' CPU seconds per
minute of schedule.

    .venv/bin/python bench/scheduler.py [--connectors 10000] [--minutes 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` and ``tests`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from tests.support.targets import threaded_sandbox

from bankfeeds.core.config import load_settings
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db import migrate
from bankfeeds.storage.db.models import Connector, ConnectorRun
from bankfeeds.storage.secrets import generate_key
from bench.common import Check, machine, write_json

EXE = str(Path(sys.executable).with_name("bankfeeds"))
BASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _admin_dsn() -> str:
    u = make_url(BASE_URL)
    return f"host={u.host} port={u.port or 5432} user={u.username or 'postgres'} dbname=postgres"


def create_database() -> tuple[str, str]:
    """A fresh, migrated database for this run; returns its URL and name."""
    name = f"bf_bench_sched_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    url = make_url(BASE_URL).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    return url, name


def drop_database(name: str) -> None:
    """Remove the run's database."""
    with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


async def add_connectors(ctx: AppContext, count: int, port: int, fingerprint: str) -> None:
    """Insert ``count`` active connectors straight into the table (the API would take minutes)."""
    now = ctx.clock()
    secrets = ctx.secrets.encrypt({"password": "bankpass"})
    async with ctx.sessions.begin() as session:
        for i in range(count):
            config = {
                "host": "127.0.0.1",
                "port": port,
                "username": "bank",
                "remotePath": "/upload",
                "filePattern": "AXIS_RECON_YYYYMMDD*.csv",
                "checksumExt": ".sha256",
                "schedule": f"{i % 60} * * * *",
                "timezone": "UTC",
                "targetCycleRule": "today",
                "catchUp": "latest",
                "hostKeyPolicy": "strict",
                "hostKeyFingerprint": fingerprint,
                "stableSeconds": 0,
                "retry": {"maxAttempts": 1},
            }
            session.add(
                Connector(
                    name=f"bench-{i}",
                    type="SFTP",
                    provider="AXIS",
                    status="ACTIVE",
                    schedule=config["schedule"],
                    timezone="UTC",
                    target_cycle_rule="today",
                    host_key_policy="strict",
                    host_key_fingerprint=fingerprint,
                    config=config,
                    secrets=secrets,
                    created_at=now,
                    updated_at=now,
                )
            )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """One ``bankfeeds worker`` process that schedules and executes."""
    with log.open("ab") as out:
        return subprocess.Popen([EXE, "worker", "--grace", "10"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip


async def measure(ctx: AppContext, start: datetime, end: datetime, count: int) -> dict[str, float]:
    """Delays and exactly-once figures for the slots in ``(start, end]``."""
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                select(
                    ConnectorRun.scheduled_for, ConnectorRun.started_at, ConnectorRun.status
                ).where(ConnectorRun.scheduled_for > start, ConnectorRun.scheduled_for <= end)
            )
        ).all()
        duplicates = await session.scalar(
            select(func.count()).select_from(
                select(ConnectorRun.connector_id, ConnectorRun.scheduled_for)
                .where(ConnectorRun.scheduled_for > start, ConnectorRun.scheduled_for <= end)
                .group_by(ConnectorRun.connector_id, ConnectorRun.scheduled_for)
                .having(func.count() > 1)
                .subquery()
            )
        )
    expected = 0
    minute = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while minute <= end:
        expected += sum(1 for i in range(count) if i % 60 == minute.minute)
        minute += timedelta(minutes=1)
    delays = sorted((s - p).total_seconds() for p, s, _ in rows if s is not None)
    pick = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))] if delays else float("nan")  # noqa: E731
    return {
        "expected": expected,
        "ran": len(rows),
        "succeeded": sum(1 for *_, st in rows if st == "SUCCESS"),
        "duplicates": float(duplicates or 0),
        "p50": pick(0.50),
        "p99": pick(0.99),
        "max": delays[-1] if delays else float("nan"),
    }


async def bench(args: argparse.Namespace, home: Path) -> tuple[str, list[Check]]:
    """Run the benchmark; return the report and its verdicts."""
    url, name = create_database()
    key = generate_key()
    settings = load_settings(
        DATABASE_URL=url,
        BANKFEEDS_SECRET_KEY=key,
        BANKFEEDS_DATA_DIR=str(home / "data"),
        BANKFEEDS_SFTP_ALLOW_HOSTS="127.0.0.1",  # the sandbox is on loopback
        _env_file=None,
    )
    ctx = AppContext.build(settings)
    try:
        with threaded_sandbox(home / "sftp", home / "sftp_key") as sandbox:
            await add_connectors(ctx, args.connectors, sandbox.port, sandbox.fingerprint)
            env = {k: v for k, v in os.environ.items() if not k.startswith("BANKFEEDS_")}
            env.update(
                DATABASE_URL=url,
                BANKFEEDS_SECRET_KEY=key,
                BANKFEEDS_DATA_DIR=str(home / "data"),
                SCHEDULER_ENABLED="true",
                BANKFEEDS_WORKER_CONCURRENCY=str(args.concurrency),
                BANKFEEDS_SFTP_ALLOW_HOSTS="127.0.0.1",
            )
            workers = [start_worker(env, home / f"worker{n}.log") for n in (1, 2)]
            await asyncio.sleep(5)  # start-up and the first tick
            dead = [w for w in workers if w.poll() is not None]
            if dead:
                log = (home / "worker1.log").read_text()[-2000:]
                raise SystemExit(f"a worker exited at start-up:\n{log}")
            t0 = datetime.now(UTC)
            cpu0 = sum(cpu_seconds(w.pid) for w in workers)
            await asyncio.sleep(args.minutes * 60)
            t1 = datetime.now(UTC)
            cpu1 = sum(cpu_seconds(w.pid) for w in workers)
            await asyncio.sleep(15)  # let the last slots' runs finish
            for w in workers:
                w.send_signal(signal.SIGTERM)
            for w in workers:
                w.wait(timeout=60)
            figures = await measure(ctx, t0, t1 - timedelta(seconds=15), args.connectors)
    finally:
        await ctx.close()
        drop_database(name)
    minutes = (t1 - t0).total_seconds() / 60
    ok = figures["ran"] == figures["expected"] == figures["succeeded"] and not figures["duplicates"]
    verdict = "pass" if ok and figures["p99"] <= 1.0 else "FAIL"
    what = f"scheduler, {args.connectors:,} connectors, 2 workers"
    checks = [
        Check(f"{what}: slots run exactly once",
              f"{figures['ran']:.0f} of {figures['expected']:.0f} ran "
              f"({figures['succeeded']:.0f} succeeded), {figures['duplicates']:.0f} twice",
              "every slot once", ok),
        Check(f"{what}: slot-to-start delay p99 (p50 / max)",
              f"{figures['p99']:.3f} s ({figures['p50']:.3f} / {figures['max']:.3f} s)",
              "p99 ≤ 1 s", figures["p99"] <= 1.0),
    ]  # fmt: skip
    report = "\n".join(
        [
            f"## Scheduler (bench/scheduler.py), {args.connectors:,} connectors, two workers",
            "",
            f"Machine: {machine()}. PostgreSQL 127.0.0.1; runs are real SFTP logins and "
            "listings against the embedded sandbox.",
            "",
            "| figure | value | goal | result |",
            "|---|---|---|---|",
            f"| slots due in the window | {figures['expected']:.0f} | - | - |",
            f"| runs for those slots / succeeded | {figures['ran']:.0f} / "
            f"{figures['succeeded']:.0f} | every slot once | {'pass' if ok else 'FAIL'} |",
            f"| slots run twice | {figures['duplicates']:.0f} | 0 | "
            f"{'pass' if not figures['duplicates'] else 'FAIL'} |",
            f"| slot-to-start delay p50 / p99 / max | {figures['p50']:.3f} / "
            f"{figures['p99']:.3f} / {figures['max']:.3f} s | p99 ≤ 1 s | {verdict} |",
            f"| workers' CPU per minute of schedule | {(cpu1 - cpu0) / minutes:.1f} s | - | - |",
        ]
    )
    return report, checks


def main() -> None:
    """Parse arguments, run, print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connectors", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--quick", action="store_true", help="600 connectors for 1.5 minutes")
    parser.add_argument(
        "--json", type=Path, help="also write the checks as JSON (bench/run_all.py)"
    )
    args = parser.parse_args()
    if args.quick:
        args.connectors, args.minutes = 600, 1.5
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bf-bench-sched-") as tmp:
        report, checks = asyncio.run(bench(args, Path(tmp)))
    print(report)
    took = f"took {time.monotonic() - started:.0f} s"
    print(f"\n({took})")
    Path(__file__).with_name("results-scheduler.md").write_text(report + "\n")
    if args.json:
        write_json(args.json, [], checks, notes=[took])


if __name__ == "__main__":
    main()

"""Several worker processes on one PostgreSQL: every run executed once, a killed worker's run
re-queued and finished by another, nothing stored twice, nothing left RUNNING."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.support.targets import threaded_sandbox
from tests.support.workers import axis_body

from bankfeeds.connectors.model import ConnectorCreate
from bankfeeds.core.config import Settings, sync_url
from bankfeeds.pipeline import handoff
from bankfeeds.sandbox.server import SandboxHandle
from bankfeeds.scheduling import runs
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import ConnectorRun, IngestedFile, RunFile

EXE = str(Path(sys.executable).with_name("bankfeeds"))
pytestmark = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    """The embedded SFTP server, on its own thread."""
    with threaded_sandbox(tmp_path / "sftp", tmp_path / "sftp_key") as handle:
        yield handle


def _publish(directory: Path, day: date, body: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    name = f"AXIS_RECON_{day:%Y%m%d}.csv"
    (directory / name).write_bytes(body)
    digest = hashlib.sha256(body).hexdigest()
    (directory / f"{name}.sha256").write_text(f"{digest}  {name}\n")


async def _connector(ctx: AppContext, sandbox: SandboxHandle, name: str, **extra: object) -> str:
    body = ConnectorCreate.model_validate(
        {
            "name": name,
            "type": "SFTP",
            "provider": "AXIS",
            "config": {
                "host": sandbox.host,
                "port": sandbox.port,
                "username": "bank",
                "password": "bankpass",
                "remotePath": f"/upload/{name}",
                "checksumExt": ".sha256",
                "hostKeyFingerprint": sandbox.fingerprint,
                **extra,
            },
        }
    )
    view, _ = await handoff.create_connector(ctx=ctx, body=body, actor="t", idempotency_key=None)
    return str(view["id"])


def _worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BANKFEEDS_", "DATABASE_"))}
    assert settings.secret_key is not None and settings.database_url is not None
    env.update(
        DATABASE_URL=sync_url(settings.database_url),
        BANKFEEDS_SECRET_KEY=settings.secret_key.get_secret_value(),
        BANKFEEDS_DATA_DIR=str(settings.data_dir),
        BANKFEEDS_LEASE_SECONDS="3",
        BANKFEEDS_SFTP_ALLOW_HOSTS=",".join(sorted(settings.sftp_allow_hosts)),
        SCHEDULER_ENABLED="false",
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [EXE, "worker", "--grace", "5"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


async def _count(ctx: AppContext, *where: object) -> int:
    async with ctx.sessions() as session:
        query = select(func.count()).select_from(ConnectorRun).where(*where)  # type: ignore[arg-type]
        return int(await session.scalar(query) or 0)


async def _until(ctx: AppContext, condition: object, seconds: float) -> None:
    for _ in range(int(seconds * 10)):
        if await _count(ctx, condition) == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"still {await _count(ctx, condition)} run(s) not done")


def _stop(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=30)


async def test_two_workers_run_200_runs_exactly_once(
    ctx: AppContext, settings: Settings, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    days = [date(2025, 1, d) for d in (6, 7, 8, 9)]
    for i in range(50):
        for day in days:
            _publish(sandbox.root / "upload" / f"c{i}", day, axis_body(f"c{i}-{day}"))
        cid = await _connector(ctx, sandbox, f"c{i}")
        await runs.queue_runs(
            ctx=ctx,
            connector_id=cid,
            dates=days,
            trigger="BACKFILL",
            force=False,
            actor="t",
            job_id=f"job{i}",
        )
    workers = [_worker(settings, tmp_path / f"w{n}.log") for n in (1, 2)]
    try:
        await _until(ctx, ConnectorRun.status.in_(("QUEUED", "RUNNING")), 180)
    finally:
        _stop(*workers)
    assert all(w.returncode == 0 for w in workers), [w.returncode for w in workers]
    assert await _count(ctx, ConnectorRun.status == "SUCCESS") == 200
    async with ctx.sessions() as session:
        per_run = (
            await session.execute(select(RunFile.run_id, func.count()).group_by(RunFile.run_id))
        ).all()
        files = await session.scalar(select(func.count()).select_from(IngestedFile))
    assert len(per_run) == 200 and {n for _, n in per_run} == {1}  # each run executed once
    assert files == 200
    # Each file's bytes and its normalised rows, once each.
    assert len(await ctx.store.list_keys("sha256/")) == 2 * 200
    logs = [(tmp_path / f"w{n}.log").read_text() for n in (1, 2)]
    assert all("worker started" in log for log in logs)


async def test_killed_worker_run_is_requeued_and_completed_by_another(
    ctx: AppContext, settings: Settings, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    _publish(sandbox.root / "upload" / "slow", date(2025, 1, 9), axis_body("slow"))
    # The stability wait keeps the run busy long enough to kill its worker mid-run.
    cid = await _connector(ctx, sandbox, "slow", stableSeconds=4)
    (run,) = await runs.queue_runs(
        ctx=ctx,
        connector_id=cid,
        dates=[date(2025, 1, 9)],
        trigger="MANUAL",
        force=False,
        actor="t",
        job_id=None,
    )
    first = _worker(settings, tmp_path / "first.log")
    try:
        await _until(ctx, ConnectorRun.status == "QUEUED", 30)
        assert await _count(ctx, ConnectorRun.status == "RUNNING") == 1
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        second = _worker(settings, tmp_path / "second.log")
        try:
            await _until(ctx, ConnectorRun.status.in_(("QUEUED", "RUNNING")), 60)
        finally:
            _stop(second)
    finally:
        if first.poll() is None:
            first.kill()
    async with ctx.sessions() as session:
        final = await session.get(ConnectorRun, run.id)
        stored = await session.scalar(select(func.count()).select_from(IngestedFile))
    assert final is not None and final.status == "SUCCESS", final
    assert final.files_downloaded == 1
    assert stored == 1
    assert len(await ctx.store.list_keys("sha256/")) == 2  # the file and its normalised rows
    assert await _count(ctx, ConnectorRun.status == "RUNNING") == 0

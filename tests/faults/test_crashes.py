"""Worker processes killed with SIGKILL: at random moments, and at the crash points in the code.

Each test ends with the reconcile check: every published file stored once, as one object and one
row, nothing left in staging, no run RUNNING.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bankfeeds.core.config import Settings
from bankfeeds.sandbox.generate import generate_day
from bankfeeds.sandbox.server import SandboxHandle
from bankfeeds.scheduling import runs
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import IngestedFile, ReconJob, RunFile
from tests.support.reconcile import assert_reconciled
from tests.support.targets import threaded_sandbox
from tests.support.workers import (
    CYCLE,
    Workers,
    axis_body,
    publish,
    published_in,
    run_statuses,
    sftp_connector,
    wait_for,
    wait_idle,
)

pytestmark = pytest.mark.faults
TERMINAL = {"SUCCESS", "PARTIAL", "FAILED", "CANCELLED"}


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    """The embedded bank SFTP server, on a thread of the test process."""
    with threaded_sandbox(tmp_path / "sftp", tmp_path / "sftp_key") as handle:
        yield handle


async def _downloads_per_sha(ctx: AppContext) -> Counter[str]:
    """How many times a run recorded storing each SHA-256 (DOWNLOADED or NEW_VERSION)."""
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                select(RunFile.sha256, func.count())
                .where(RunFile.outcome.in_(("DOWNLOADED", "NEW_VERSION")))
                .group_by(RunFile.sha256)
            )
        ).all()
    return Counter({str(sha): int(n) for sha, n in rows})


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("seed", [11, 22, 33])
async def test_kill_9_at_random_moments_during_100_downloads(
    ctx: AppContext, settings: Settings, sandbox: SandboxHandle, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    published: dict[str, str] = {}
    for c in range(10):
        directory = sandbox.root / "upload" / f"c{c}"
        for f in range(10):
            name = f"AXIS_RECON_{CYCLE:%Y%m%d}_{c:02d}{f:02d}.csv"
            published[name] = publish(directory, name, axis_body(f"S{seed}C{c}F{f}", rows=40))
        cid = await sftp_connector(
            ctx, sandbox, f"c{c}", remote_path=f"/upload/c{c}", maxFilesInFlight=1
        )
        await runs.queue_runs(
            ctx=ctx,
            connector_id=cid,
            dates=[CYCLE],
            trigger="MANUAL",
            force=False,
            actor="faults",
            job_id=None,
        )
    started = time.monotonic()
    kills: list[tuple[str, int]] = []  # (victim, files stored at the moment of the kill)
    with Workers(settings, tmp_path / "logs") as pool:
        live = {name: pool.start(name) for name in ("a", "b")}
        # Three kills at random points of progress, each of a randomly chosen worker.
        for threshold in sorted(rng.sample(range(5, 90), 3)):

            async def reached(at: int = threshold) -> bool:
                return await _stored(ctx) >= at

            await wait_for(reached, 120, f"{threshold} files stored", poll=0.02)
            victim = rng.choice(sorted(live))
            live[victim].kill()
            assert live[victim].proc.returncode == -signal.SIGKILL
            kills.append((victim, await _stored(ctx)))
            live[victim] = pool.start(victim)
        took = await wait_idle(ctx, 120)
        codes = pool.stop_all()
    elapsed = time.monotonic() - started
    assert codes == [0, 0], [w.output()[-2000:] for w in pool.started]
    statuses = await run_statuses(ctx)
    assert set(statuses) <= TERMINAL, statuses
    assert statuses["SUCCESS"] >= 10, statuses
    per_sha = await _downloads_per_sha(ctx)
    duplicates = {sha: n for sha, n in per_sha.items() if n != 1}
    assert not duplicates, duplicates
    assert set(per_sha) == set(published.values())
    print(
        f"\nFIGURES kill-9 seed={seed}: kills={len(kills)} {kills} files={len(published)} "
        f"total={elapsed:.1f}s idle-after-last-kill={took:.1f}s duplicates=0 "
        f"runs={dict(statuses)}"
    )
    print(f"FIGURES kill-9 seed={seed}: {await assert_reconciled(ctx, published)}")


async def _stored(ctx: AppContext) -> int:
    async with ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(IngestedFile)) or 0)


async def _jobs(ctx: AppContext) -> list[ReconJob]:
    async with ctx.sessions() as session:
        return list(
            (
                await session.scalars(
                    select(ReconJob).where(
                        ReconJob.provider == "AXIS", ReconJob.cycle_date == CYCLE
                    )
                )
            ).all()
        )


async def _stranded(ctx: AppContext) -> int:
    async with ctx.sessions() as session:
        query = select(func.count()).select_from(IngestedFile)
        return int(await session.scalar(query.where(IngestedFile.status == "DOWNLOADED")) or 0)


@pytest.mark.parametrize("crash_at", ["after-put", "after-commit"])
async def test_crash_between_durable_steps_gives_one_row_one_object_one_job(
    ctx: AppContext, settings: Settings, sandbox: SandboxHandle, tmp_path: Path, crash_at: str
) -> None:
    directory = sandbox.root / "upload" / "day"
    generate_day(directory, CYCLE, providers=("AXIS",), rows=20, seed=7)
    published = published_in(directory)
    assert sorted(published) == [f"AXIS_RECON_{CYCLE:%Y%m%d}.csv", f"PG_TXN_{CYCLE:%Y%m%d}.csv"]
    for provider, pattern in (("AXIS", "AXIS_RECON_YYYYMMDD.csv"), ("PG", "PG_TXN_YYYYMMDD.csv")):
        cid = await sftp_connector(
            ctx, sandbox, provider.lower(), remote_path="/upload/day", provider=provider,
            pattern=pattern,
        )  # fmt: skip
        await runs.queue_runs(
            ctx=ctx,
            connector_id=cid,
            dates=[CYCLE],
            trigger="MANUAL",
            force=False,
            actor="faults",
            job_id=None,
        )
    started = time.monotonic()
    with Workers(settings, tmp_path / "logs") as pool:
        crashy = pool.start("crashy", crash_at=crash_at)
        await wait_for(lambda: _exited(crashy.proc), 40, f"the worker to die at {crash_at}")
        assert crashy.proc.returncode == -signal.SIGKILL, crashy.output()[-3000:]
        objects_at_crash = len(await ctx.store.list_keys("sha256/"))
        rows_at_crash = await _stored(ctx)
        if crash_at == "after-put":
            assert objects_at_crash > rows_at_crash  # the object is durable, its row is not
        else:
            assert rows_at_crash >= 1

        # The restarted worker (with its scheduler, which also sweeps stranded files) finishes.
        pool.start("restarted", scheduler=True)
        await wait_idle(ctx, 120)
        # A row committed just before the crash was never normalised: the run that takes over
        # recognises the file and normalises it then, without waiting for the stranded sweep.
        stranded = await _stranded(ctx)
        assert stranded == 0, f"{stranded} file(s) left DOWNLOADED after the re-run"

        async def job_done() -> bool:
            jobs = await _jobs(ctx)
            return bool(jobs) and all(j.status in ("COMPLETED", "FAILED") for j in jobs)

        await wait_for(job_done, 120, "the recon job to finish")
        codes = pool.stop_all()
    elapsed = time.monotonic() - started
    assert all(code == 0 for code in codes), codes
    jobs = await _jobs(ctx)
    assert len(jobs) == 1, [(j.id, j.bank_file_id, j.pg_file_id) for j in jobs]
    assert jobs[0].status == "COMPLETED", jobs[0].error_message
    per_sha = await _downloads_per_sha(ctx)
    assert per_sha == Counter({sha: 1 for sha in published.values()}), per_sha
    statuses = await run_statuses(ctx)
    assert set(statuses) <= TERMINAL, statuses
    backend = settings.resolved_database_url.split(":")[0]
    print(
        f"\nFIGURES crash {crash_at} {backend}: objects-at-crash={objects_at_crash} "
        f"rows-at-crash={rows_at_crash} stranded-after-restart={stranded} "
        f"recon-jobs={len(jobs)} total={elapsed:.1f}s runs={dict(statuses)}"
    )
    print(f"FIGURES crash {crash_at} {backend}: {await assert_reconciled(ctx, published)}")


async def _exited(proc: subprocess.Popen[bytes]) -> bool:
    return proc.poll() is not None

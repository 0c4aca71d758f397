"""Infrastructure faults under real worker processes: a full staging disk, PostgreSQL crashing and
restarting, the object store going away, and schedulers racing an API on one connector.

Each test ends with the reconcile check: every published file stored once, as one object and one
row, nothing left in staging, no run RUNNING.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError

from bankfeeds.access import tokens
from bankfeeds.connectors.schedule import cycle_date_for
from bankfeeds.core.config import Settings, load_settings
from bankfeeds.http.app import create_app
from bankfeeds.sandbox.server import SandboxHandle
from bankfeeds.scheduling import runs
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector, ConnectorRun, IngestedFile, RunFile
from bankfeeds.storage.objectstore.store import key_for
from bankfeeds.storage.secrets import generate_key
from tests.support import pgcluster
from tests.support.moto_s3 import MotoS3, fake_credentials, new_bucket
from tests.support.reconcile import assert_reconciled
from tests.support.server import serve
from tests.support.targets import threaded_sandbox
from tests.support.workers import (
    CYCLE,
    Workers,
    age_stranded,
    axis_body,
    connector_pk,
    count_runs,
    counting_sandbox,
    file_states,
    publish,
    run_statuses,
    sftp_connector,
    wait_for,
    wait_idle,
)

pytestmark = pytest.mark.faults
TERMINAL = {"SUCCESS", "PARTIAL", "FAILED", "CANCELLED"}
FAST_RETRY = {"maxAttempts": 10, "baseSeconds": 1, "factor": 1, "maxSeconds": 1}


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    """The embedded bank SFTP server, on a thread of the test process."""
    with threaded_sandbox(tmp_path / "sftp", tmp_path / "sftp_key") as handle:
        yield handle


def _settings(tmp_path: Path, db_url: str, **extra: Any) -> Settings:
    return load_settings(
        BANKFEEDS_DATA_DIR=str(tmp_path / "data"),
        DATABASE_URL=db_url,
        BANKFEEDS_SECRET_KEY=generate_key(),
        SCHEDULER_ENABLED=False,
        BANKFEEDS_LEASE_SECONDS=3,
        BANKFEEDS_SFTP_ALLOW_HOSTS="127.0.0.1",  # the test servers are on loopback
        _env_file=None,
        **extra,
    )


async def _queue(ctx: AppContext, connector_id: str, day: date = CYCLE) -> int:
    (run,) = await runs.queue_runs(
        ctx=ctx,
        connector_id=connector_id,
        dates=[day],
        trigger="MANUAL",
        force=False,
        actor="faults",
        job_id=None,
    )
    return run.id


async def _rows(ctx: AppContext) -> int:
    async with ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(IngestedFile)) or 0)


async def _run(ctx: AppContext, run_pk: int) -> ConnectorRun:
    async with ctx.sessions() as session:
        run = await session.get(ConnectorRun, run_pk)
    assert run is not None
    return run


async def _downloads_per_sha(ctx: AppContext) -> Counter[str]:
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                select(RunFile.sha256, func.count())
                .where(RunFile.outcome.in_(("DOWNLOADED", "NEW_VERSION")))
                .group_by(RunFile.sha256)
            )
        ).all()
    return Counter({str(sha): int(n) for sha, n in rows})


def _one_sentence(text: str | None) -> bool:
    return bool(text) and text is not None and text.endswith(".") and ". " not in text[:-1]


# --- 3. staging disk full -----------------------------------------------------------------------


@contextlib.contextmanager
def _small_tmpfs(where: Path, size: str) -> Iterator[None]:
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs for staging: {mounted.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


async def test_staging_disk_full_fails_the_file_then_the_next_run_catches_up(
    ctx: AppContext, settings: Settings, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    directory = sandbox.root / "upload" / "full"
    big = f"AXIS_RECON_{CYCLE:%Y%m%d}_BIG.csv"
    published = {big: publish(directory, big, axis_body("BIG", rows=40_000))}
    assert (directory / big).stat().st_size > 3 * 1024 * 1024
    for n in range(3):
        name = f"AXIS_RECON_{CYCLE:%Y%m%d}_{n}.csv"
        published[name] = publish(directory, name, axis_body(f"SMALL{n}", rows=20))
    cid = await sftp_connector(
        ctx, sandbox, "full", remote_path="/upload/full", retry={"maxAttempts": 1}
    )
    staging = settings.data_dir / "staging"
    started = time.monotonic()
    with Workers(settings, tmp_path / "logs") as pool:
        with _small_tmpfs(staging, "2m"):
            first = await _queue(ctx, cid)
            pool.start("w")
            await wait_idle(ctx, 120)
            failed = await _run(ctx, first)
            # Nothing half-written: the staging disk is empty again, the big file has no object
            # and no row; the small ones are stored.
            left = [p for p in staging.rglob("*") if p.is_file()]
            assert left == [], left
            assert not await ctx.store.exists(key_for(published[big]))
            # Small files racing the big one for the space may fail too; those stored have rows.
            assert await _rows(ctx) == failed.files_downloaded
        # Space restored (the tmpfs is gone; staging is back on the big disk): the next run.
        second = await _queue(ctx, cid)
        took = await wait_idle(ctx, 120)
        # A small file whose normalisation met the full disk is not condemned for it: it waits,
        # DOWNLOADED, for the stranded sweep.
        states = await file_states(ctx)
        assert "ERROR" not in states, states
        if postponed := await age_stranded(ctx):
            pool.stop_all()
            pool.start("sweeper", scheduler=True)

            async def all_normalised() -> bool:
                return set(await file_states(ctx)) == {"NORMALIZED"}

            await wait_for(all_normalised, 120, "every file normalised")
        codes = pool.stop_all()
    assert all(code == 0 for code in codes), codes
    assert failed.status in ("PARTIAL", "FAILED"), (failed.status, failed.error_message)
    assert failed.files_failed >= 1 and failed.files_failed + failed.files_downloaded == 4
    assert _one_sentence(failed.error_message), failed.error_message
    async with ctx.sessions() as session:
        why = await session.scalar(
            select(RunFile.message).where(
                RunFile.run_id == first, RunFile.outcome == "FAILED", RunFile.remote_name == big
            )
        )
    assert why is not None and "No space left on device" in why, why
    caught_up = await _run(ctx, second)
    assert caught_up.status == "SUCCESS", caught_up.error_message
    assert caught_up.files_downloaded == failed.files_failed
    assert caught_up.files_skipped == failed.files_downloaded
    report = await assert_reconciled(ctx, published)
    print(
        f"\nFIGURES disk-full: files={len(published)} first={failed.status} "
        f"failed={failed.files_failed} stored={failed.files_downloaded} "
        f"'{failed.error_message}' file-error='{why}' catch-up={took:.1f}s "
        f"normalisations-postponed={postponed} "
        f"total={time.monotonic() - started:.1f}s reconciled={report}"
    )


# --- 4. PostgreSQL crash-restarted during a run -------------------------------------------------


async def _tolerant(check: Callable[[], Awaitable[bool]]) -> bool:
    """``check``, counting a database that is down (restarting) as not yet."""
    try:
        return await check()
    except (DBAPIError, OSError):
        return False


async def test_postgres_restarted_immediately_during_a_run_loses_nothing(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    reason = pgcluster.skip_reason()
    if reason is not None:
        pytest.skip(reason)
    with pgcluster.private_cluster() as cluster:
        settings = _settings(tmp_path, cluster.url)
        ctx = AppContext.build(settings)
        try:
            published: dict[str, str] = {}
            for c in range(3):
                directory = sandbox.root / "upload" / f"pg{c}"
                for f in range(15):
                    name = f"AXIS_RECON_{CYCLE:%Y%m%d}_{c}{f:02d}.csv"
                    published[name] = publish(directory, name, axis_body(f"PG{c}-{f}", 50))
                cid = await sftp_connector(
                    ctx, sandbox, f"pg{c}", remote_path=f"/upload/pg{c}", maxFilesInFlight=1,
                    retry=FAST_RETRY,
                )  # fmt: skip
                await _queue(ctx, cid)
            started = time.monotonic()
            with Workers(settings, tmp_path / "logs") as pool:
                pool.start("w1")
                pool.start("w2")

                async def some_stored() -> bool:
                    return await _rows(ctx) >= 6

                await wait_for(some_stored, 120, "a few files stored", poll=0.05)
                at_restart = await _rows(ctx)
                await asyncio.to_thread(cluster.restart_immediate)
                restarted = time.monotonic()

                async def idle() -> bool:
                    active = ConnectorRun.status.in_(("QUEUED", "RUNNING"))
                    return await count_runs(ctx, active) == 0

                took = await wait_for(lambda: _tolerant(idle), 120, "every run terminal")
                codes = pool.stop_all()
            assert codes == [0, 0], [w.output()[-3000:] for w in pool.started]
            statuses = await run_statuses(ctx)
            assert set(statuses) <= TERMINAL, statuses
            per_sha = await _downloads_per_sha(ctx)
            assert per_sha == Counter({sha: 1 for sha in published.values()}), per_sha
            report = await assert_reconciled(ctx, published)
            print(
                f"\nFIGURES pg-restart: files={len(published)} stored-at-restart={at_restart} "
                f"terminal-after-restart={time.monotonic() - restarted:.1f}s (poll {took:.1f}s) "
                f"total={time.monotonic() - started:.1f}s runs={dict(statuses)} "
                f"reconciled={report}"
            )
        finally:
            await ctx.close()


# --- 5. the object store stopped mid-run --------------------------------------------------------


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[MotoS3]:
    """A restartable moto S3 server with throwaway credentials in the environment."""
    fake_credentials(monkeypatch, tmp_path)
    server = MotoS3()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_object_store_stopped_mid_run_leaves_no_row_without_its_object(
    db_url: str, moto: MotoS3, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    bucket, _ = new_bucket(moto.endpoint)
    settings = _settings(tmp_path, db_url, S3_BUCKET=bucket, S3_ENDPOINT=moto.endpoint)
    ctx = AppContext.build(settings)
    try:
        directory = sandbox.root / "upload" / "s3"
        published = {
            f"AXIS_RECON_{CYCLE:%Y%m%d}_{n:02d}.csv": publish(
                directory, f"AXIS_RECON_{CYCLE:%Y%m%d}_{n:02d}.csv", axis_body(f"S3-{n}", 400)
            )
            for n in range(16)
        }
        cid = await sftp_connector(
            ctx, sandbox, "s3", remote_path="/upload/s3", maxFilesInFlight=2, retry=FAST_RETRY
        )
        first = await _queue(ctx, cid)
        started = time.monotonic()
        with Workers(settings, tmp_path / "logs") as pool:
            pool.start("w")

            async def some_stored() -> bool:
                return await _rows(ctx) >= 3

            await wait_for(some_stored, 120, "a few files stored", poll=0.05)
            moto.stop()
            stopped_at = await _rows(ctx)

            async def first_over() -> bool:
                return (await _run(ctx, first)).status in TERMINAL

            await wait_for(first_over, 120, "the run to end while the store is down")
            during = await _run(ctx, first)
            # While the store is down, no row may point at an object it does not have: every
            # row written so far was written after its object.
            async with ctx.sessions() as session:
                keys = (await session.scalars(select(IngestedFile.object_key))).all()
            moto.start()
            missing = [k for k in keys if k and not await ctx.store.exists(k)]
            assert missing == [], missing
            took = await wait_idle(ctx, 120)
            # A file stored just before the outage whose normalisation the outage stopped must
            # not be condemned for it: it waits, DOWNLOADED, for the stranded sweep.
            states = await file_states(ctx)
            assert "ERROR" not in states, states
            postponed = await age_stranded(ctx)
            if postponed:
                pool.stop_all()
                pool.start("sweeper", scheduler=True)

                async def all_normalised() -> bool:
                    return set(await file_states(ctx)) == {"NORMALIZED"}

                await wait_for(all_normalised, 120, "every file normalised")
            codes = pool.stop_all()
        assert all(code == 0 for code in codes), codes
        assert during.status in ("PARTIAL", "FAILED"), during.status
        assert _one_sentence(during.error_message), during.error_message
        statuses = await run_statuses(ctx)
        assert set(statuses) <= TERMINAL, statuses
        assert statuses["SUCCESS"] >= 1, statuses
        report = await assert_reconciled(ctx, published)
        print(
            f"\nFIGURES s3-outage {db_url.split(':')[0]}: files={len(published)} "
            f"stored-before-stop={stopped_at} first-run={during.status} "
            f"'{during.error_message}' files-failed={during.files_failed} "
            f"catch-up={took:.1f}s total={time.monotonic() - started:.1f}s "
            f"runs={dict(statuses)} normalisations-postponed={postponed} reconciled={report}"
        )
    finally:
        await ctx.close()


# --- 6. two schedulers and 200 run-now calls racing on one connector ----------------------------


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_two_schedulers_and_200_run_now_calls_never_download_a_file_twice(
    ctx: AppContext, settings: Settings, tmp_path: Path
) -> None:
    with counting_sandbox(tmp_path / "sftp", tmp_path / "sftp_key") as sftp:
        now = ctx.clock()
        # The cycle dates the runs of the last minutes and the next one fetch (yesterday, IST).
        days = {
            cycle_date_for("yesterday", now + timedelta(minutes=m), "Asia/Kolkata")
            for m in range(-7, 3)
        }
        directory = sftp.root / "upload" / "race"
        by_day: dict[date, dict[str, str]] = {}
        for day in sorted(days):
            for n in range(20):
                name = f"AXIS_RECON_{day:%Y%m%d}_{n:02d}.csv"
                body = axis_body(f"R{day:%Y%m%d}{n}", 20)
                by_day.setdefault(day, {})[name] = publish(directory, name, body)
        cid = await sftp_connector(
            ctx, sftp, "race", remote_path="/upload/race", schedule="* * * * *",
            timezone="Asia/Kolkata", catchUp="all", maxFilesInFlight=2,
        )  # fmt: skip
        # Created five minutes ago: both schedulers find the same missed slots at once.
        async with ctx.sessions.begin() as session:
            await session.execute(
                update(Connector)
                .where(Connector.id == connector_pk(cid))
                .values(created_at=now - timedelta(minutes=5, seconds=30))
            )
        _, token = await tokens.create_token(ctx=ctx, name="ops", role="operator", actor="t")
        app = create_app(AppContext.build(settings), run_wait_seconds=0.2)
        peak = 0
        sampling = True

        async def sample() -> None:
            nonlocal peak
            while sampling:
                running = await count_runs(ctx, ConnectorRun.status == "RUNNING")
                peak = max(peak, running)
                await asyncio.sleep(0.02)

        started = time.monotonic()
        with serve(app) as url, Workers(settings, tmp_path / "logs") as pool:
            sampler = asyncio.create_task(sample())
            pool.start("s1", scheduler=True)
            pool.start("s2", scheduler=True)
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(
                base_url=url, headers=headers, timeout=60, limits=limits
            ) as client:

                async def run_now() -> int:
                    response = await client.post(f"/ops/connectors/{cid}/run-now")
                    return response.status_code

                # Two waves: one while the schedulers start, one while their runs go.
                codes = Counter(await asyncio.gather(*(run_now() for _ in range(100))))
                await asyncio.sleep(1.0)
                codes += Counter(await asyncio.gather(*(run_now() for _ in range(100))))
            took = await wait_idle(ctx, 120)
            exits = pool.stop_all()
            sampling = False
            await sampler
        assert exits == [0, 0]
        async with ctx.sessions() as session:
            fetched = set((await session.scalars(select(ConnectorRun.cycle_date))).all())
        # Near midnight in Kolkata a published day may have had no run; it is not owed.
        published = {k: v for day in fetched for k, v in by_day.get(day, {}).items()}
        assert set(codes) <= {200, 202, 409}, codes
        assert codes[409] >= 1 and codes[200] + codes[202] >= 1, codes
        assert peak == 1, peak
        statuses = await run_statuses(ctx)
        assert set(statuses) <= TERMINAL, statuses
        scheduled = await count_runs(ctx, ConnectorRun.trigger == "SCHEDULE")
        assert scheduled >= 5, scheduled  # the missed slots, each queued once by two schedulers
        per_sha = await _downloads_per_sha(ctx)
        assert per_sha == Counter({sha: 1 for sha in published.values()}), per_sha
        data_reads = {p: n for p, n in sftp.reads.items() if not p.endswith(".sha256")}
        assert data_reads and set(data_reads.values()) == {1}, data_reads
        report = await assert_reconciled(ctx, published)
        print(
            f"\nFIGURES race: triggers=200 run-now + {scheduled} scheduled; codes={dict(codes)} "
            f"peak-running={peak} files={len(published)} server-reads-per-file="
            f"{sorted(set(data_reads.values()))} duplicates=0 idle={took:.1f}s "
            f"total={time.monotonic() - started:.1f}s runs={dict(statuses)} reconciled={report}"
        )

"""Network faults between bankfeeds and the bank's SFTP server, injected by the fault proxy.

Every scenario runs against the sandbox and OpenSSH, on SQLite and PostgreSQL, and ends with the
reconcile check. Measured figures (bytes before a cut, time to a timeout, throughput under a cap)
are recorded as test properties (``--junitxml`` shows them) for docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

import pytest
from sqlalchemy import select

from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import ConnectorRun
from tests.faults.scenario import NAME, axis_csv, make_connector, publish, run_once, start
from tests.faults.scenario import finish as finish_run
from tests.support.faultproxy import FaultProxy, Faults
from tests.support.reconcile import assert_reconciled
from tests.support.targets import Target

pytestmark = pytest.mark.faults

MiB = 1024 * 1024
Record = Callable[[str, object], None]


@pytest.mark.parametrize(
    ("fault", "fraction"), [("cut", 0.1), ("cut", 0.5), ("cut", 0.9), ("reset", 0.5)]
)
async def test_link_broken_mid_transfer_then_a_clean_retry(
    ctx: AppContext, target: Target, fault: str, fraction: float, record_property: Record
) -> None:
    data = axis_csv(4 * MiB, seed=11)
    sha = publish(target, NAME, data)
    after = int(len(data) * fraction)
    faults = Faults(cut_after=after) if fault == "cut" else Faults(reset_after=after)
    async with FaultProxy(target.port, down=faults) as proxy:
        cid = await make_connector(ctx, target, port=proxy.port)
        broken = await run_once(ctx, cid)
        assert [t.kind for t in proxy.trips] == [fault]
        assert broken["status"] == "FAILED", broken
        assert broken["errorCode"] == "transfer-failed"
        assert broken["error"].endswith(".") and NAME in broken["error"]
        assert 0 < broken["bytesDownloaded"] < len(data)
        nothing = await assert_reconciled(ctx, {})  # no object, no row, no staging file
        assert (nothing.data_objects, nothing.stored_rows, nothing.quarantined_rows) == (0, 0, 0)

        proxy.set(down=Faults())  # the link is healthy again
        retry = await run_once(ctx, cid)
    assert retry["status"] == "SUCCESS" and retry["filesDownloaded"] == 1
    counts = await assert_reconciled(ctx, {NAME: sha})
    assert (counts.data_objects, counts.stored_rows) == (1, 1)
    record_property("file_bytes", len(data))
    record_property("wire_bytes_before_fault", proxy.trips[0].after_bytes)
    record_property("file_bytes_staged_before_fault", broken["bytesDownloaded"])


async def test_stalled_server_times_out_within_its_bound(
    ctx: AppContext, target: Target, record_property: Record
) -> None:
    data = axis_csv(4 * MiB, seed=12)
    sha = publish(target, NAME, data)
    read_timeout = 2
    async with FaultProxy(target.port, down=Faults(stall_after=len(data) // 3)) as proxy:
        cid = await make_connector(ctx, target, port=proxy.port, readTimeout=read_timeout)
        async with asyncio.timeout(60):  # a hung run fails the test instead of hanging it
            stalled = await run_once(ctx, cid)
        ended = time.monotonic()
        assert [t.kind for t in proxy.trips] == ["stall"]
        waited = ended - proxy.trips[0].at
        assert stalled["status"] == "FAILED", stalled
        assert stalled["errorCode"] == "source-timeout"
        assert f"sent nothing for {read_timeout} s" in stalled["error"]
        # The bound from the issue: terminal within three read timeouts of the stall.
        assert waited < 3 * read_timeout, waited
        await assert_reconciled(ctx, {})

        proxy.set(down=Faults())
        retry = await run_once(ctx, cid)
    assert retry["status"] == "SUCCESS"
    await assert_reconciled(ctx, {NAME: sha})
    record_property("read_timeout_s", read_timeout)
    record_property("stall_to_terminal_s", round(waited, 3))


async def _watch(ctx: AppContext, run_pk: int, seen: list[tuple[int, object]]) -> None:
    """Sample the run's progress columns, as the UI would poll them, until cancelled."""
    while True:
        async with ctx.sessions() as session:
            row = (
                await session.execute(
                    select(ConnectorRun.bytes_downloaded, ConnectorRun.heartbeat_at).where(
                        ConnectorRun.id == run_pk
                    )
                )
            ).one()
        seen.append((row[0], row[1]))
        await asyncio.sleep(0.25)


async def test_bandwidth_capped_at_1_mb_per_second_with_50_files(
    ctx: AppContext, target: Target, record_property: Record
) -> None:
    rate = 1_000_000
    files = {f"AXIS_RECON_20250110_{i:02d}.csv": axis_csv(100_000, seed=100 + i) for i in range(50)}
    published = {name: publish(target, name, data) for name, data in files.items()}
    total = sum(len(d) for d in files.values())
    async with FaultProxy(target.port, up=Faults(rate=rate), down=Faults(rate=rate)) as proxy:
        cid = await make_connector(ctx, target, port=proxy.port)
        run_pk = await start(ctx, cid)
        seen: list[tuple[int, object]] = []
        watcher = asyncio.create_task(_watch(ctx, run_pk, seen))
        began = time.monotonic()
        try:
            run = await finish_run(ctx, run_pk)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        elapsed = time.monotonic() - began
    assert run["status"] == "SUCCESS", run
    assert run["filesDownloaded"] == 50 and run["bytesDownloaded"] == total
    counts = await assert_reconciled(ctx, published)
    assert (counts.data_objects, counts.stored_rows) == (50, 50)
    # The cap held: the bytes on the wire cannot have moved faster than the rate allows.
    assert elapsed >= proxy.sent["down"] / rate - 0.5, (elapsed, proxy.sent)
    # Heartbeats recorded progress while the run went on, never going backwards.
    progress = [b for b, _ in seen]
    assert progress == sorted(progress)
    assert len({b for b in progress if 0 < b < total}) >= 2, progress
    assert len({h for _, h in seen if h is not None}) >= 3, seen
    record_property("files", 50)
    record_property("elapsed_s", round(elapsed, 2))
    record_property("files_per_s", round(50 / elapsed, 2))
    record_property("wire_mb_per_s", round(proxy.sent["down"] / elapsed / 1e6, 3))


async def test_added_latency_of_50_ms_with_20_files(
    ctx: AppContext, target: Target, record_property: Record
) -> None:
    files = {f"AXIS_RECON_20250110_{i:02d}.csv": axis_csv(20_000, seed=200 + i) for i in range(20)}
    published = {name: publish(target, name, data) for name, data in files.items()}
    slow = Faults(latency=0.05)
    async with FaultProxy(target.port, up=slow, down=slow) as proxy:
        cid = await make_connector(ctx, target, port=proxy.port)
        began = time.monotonic()
        run = await run_once(ctx, cid)
        elapsed = time.monotonic() - began
    assert run["status"] == "SUCCESS", run
    assert run["filesDownloaded"] == 20
    counts = await assert_reconciled(ctx, published)
    assert (counts.data_objects, counts.stored_rows) == (20, 20)
    # SSH needs several round trips before the first byte of a file; each now costs 100 ms.
    assert elapsed > 0.5, elapsed
    record_property("elapsed_s", round(elapsed, 2))
    record_property("connections", proxy.connections)


def _read(conn: socket.socket, limit: int) -> bytes:
    """Read until EOF or ``limit`` bytes."""
    got = b""
    while len(got) < limit and (chunk := conn.recv(limit - len(got))):
        got += chunk
    return got


def test_proxy_in_a_thread_serves_a_synchronous_client(target: Target) -> None:
    with FaultProxy.start_in_thread(target.port, down=Faults(latency=0.2, cut_after=4)) as proxy:
        began = time.monotonic()
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as conn:
            cut = _read(conn, 4096)  # the server's banner, cut after four bytes, then EOF
        delayed = time.monotonic() - began
        proxy.set(down=Faults())  # from this thread, while the proxy's loop runs in its own
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as conn:
            whole = _read(conn, 8)
    assert cut == b"SSH-" and whole == b"SSH-2.0-"
    assert delayed >= 0.2
    assert [t.kind for t in proxy.trips] == ["cut"]
    assert proxy.connections == 2 and proxy.sent["down"] >= 12

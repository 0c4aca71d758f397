"""Real ``bankfeeds worker`` processes for fault tests, and the files and connectors they work on.

Workers run as subprocesses with a 3-second lease, so a SIGKILLed worker's runs are re-queued
within seconds; a test can arm a crash point (``BANKFEEDS_CRASH_AT``) in one of them. The SFTP
side is the embedded sandbox on a thread of the test process; :func:`counting_sandbox` is the same
server counting how often each file was opened for reading.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

import asyncssh
from sqlalchemy import func, select, update

from bankfeeds.connectors.model import ConnectorCreate
from bankfeeds.core import faults
from bankfeeds.core.config import Settings, sync_url
from bankfeeds.normalise.service import STRANDED_AFTER
from bankfeeds.pipeline import handoff
from bankfeeds.sandbox.server import _BankServer, _ChrootedSFTP, ensure_host_key
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import ConnectorRun, IngestedFile

EXE = str(Path(sys.executable).with_name("bankfeeds"))
#: Short enough that a killed worker's runs come back within a test, long enough for heartbeats.
LEASE_SECONDS = 3
ACTIVE = ("QUEUED", "RUNNING")
#: How long a worker may take to start: on a busy two-core machine imports alone take seconds.
READY_SECONDS = 120.0
AXIS_HEADER = "TXNID,CREDIT_AMT,NET_CR_AMT,VALUE_DATE,UTR,RRN,AUTH,POST_DATE,BANK,STATUS,REMARKS"


class SftpEndpoint(Protocol):
    """What a connector needs to reach an SFTP server."""

    host: str
    port: int
    fingerprint: str


# --- worker processes ---------------------------------------------------------------------------


def worker_env(
    settings: Settings,
    *,
    crash_at: str | None = None,
    scheduler: bool = False,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a worker over ``settings``' database, data dir and object store."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BANKFEEDS_", "DATABASE_", "S3_", "SCHEDULER_"))
    }
    assert settings.secret_key is not None and settings.database_url is not None
    env.update(
        DATABASE_URL=sync_url(settings.database_url),
        BANKFEEDS_SECRET_KEY=settings.secret_key.get_secret_value(),
        BANKFEEDS_DATA_DIR=str(settings.data_dir),
        BANKFEEDS_LEASE_SECONDS=str(LEASE_SECONDS),
        BANKFEEDS_SCHEDULER_TICK_SECONDS="0.5",
        BANKFEEDS_LOG_FORMAT="text",
        BANKFEEDS_SFTP_ALLOW_HOSTS=",".join(sorted(settings.sftp_allow_hosts)),
        SCHEDULER_ENABLED="true" if scheduler else "false",
        ALERTS_ENABLED="false",
    )
    if settings.s3_bucket:
        env.update(S3_BUCKET=settings.s3_bucket, S3_REGION=settings.s3_region)
        if settings.s3_endpoint:
            env["S3_ENDPOINT"] = settings.s3_endpoint
    if crash_at:
        env[faults.ENV_VAR] = crash_at
    env.update(extra or {})
    return env


@dataclass
class WorkerProcess:
    """One ``bankfeeds worker`` subprocess and the file its output goes to."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    #: Where this process's output starts in ``log`` (a restarted worker appends to it).
    offset: int = 0

    @property
    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL it (no clean-up of any kind) and reap it."""
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 30, *, signalled: bool = False) -> int:
        """SIGTERM it (unless ``signalled``) and wait; SIGKILL if it does not exit in time.

        A second SIGTERM would hit the default handler once the worker removed its own, so
        each worker is signalled once. Returns the exit code.
        """
        if self.alive and not signalled:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.returncode

    def output(self) -> str:
        """Everything this process wrote so far."""
        if not self.log.exists():
            return ""
        with self.log.open("rb") as fh:
            fh.seek(self.offset)
            return fh.read().decode(errors="replace")

    def wait_ready(self, timeout: float = READY_SECONDS) -> float:
        """Block until the worker says it started (imports and migrations take a while on a
        loaded machine); returns the seconds it took."""
        started = time.monotonic()
        while "worker started" not in self.output():
            if not self.alive:
                raise AssertionError(f"worker {self.name} exited: {self.output()[-3000:]}")
            if time.monotonic() - started > timeout:
                raise AssertionError(f"worker {self.name} did not start in {timeout:.0f} s")
            time.sleep(0.05)
        return time.monotonic() - started


@dataclass
class Workers:
    """Starts workers for one test and makes sure none outlives it (use as a context manager)."""

    settings: Settings
    logs: Path
    started: list[WorkerProcess] = field(default_factory=list)

    def start(
        self,
        name: str,
        *,
        crash_at: str | None = None,
        scheduler: bool = False,
        extra: Mapping[str, str] | None = None,
        preexec_fn: Callable[[], Any] | None = None,
        grace: float = 5,
        ready: bool = True,
    ) -> WorkerProcess:
        """Start a worker named ``name`` (its log is ``<logs>/<name>.log``, appended to).

        With ``ready`` (the default) it returns once the worker has started its loop.
        """
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        env = worker_env(self.settings, crash_at=crash_at, scheduler=scheduler, extra=extra)
        args = [EXE, "worker", "--grace", str(grace)]
        if not scheduler:
            args.append("--no-scheduler")
        offset = log.stat().st_size if log.exists() else 0
        with log.open("ab") as out:
            proc = subprocess.Popen(
                args, env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=preexec_fn
            )
        worker = WorkerProcess(name, proc, log, offset)
        self.started.append(worker)
        if ready:
            worker.wait_ready()
        return worker

    def stop_all(self, timeout: float = 30) -> list[int]:
        """SIGTERM every live worker at once, then wait for each; returns their exit codes."""
        live = [w for w in self.started if w.alive]
        for worker in live:
            worker.proc.send_signal(signal.SIGTERM)
        return [worker.stop(timeout, signalled=True) for worker in live]

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_all()


# --- waiting on the database --------------------------------------------------------------------


async def wait_for(
    check: Callable[[], Awaitable[bool]], seconds: float, what: str, poll: float = 0.2
) -> float:
    """Poll ``check`` until it holds; returns the seconds it took, fails after ``seconds``."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds:.0f} s: {what}")
        await asyncio.sleep(poll)
    return time.monotonic() - started


async def count_runs(ctx: AppContext, *where: Any) -> int:
    """How many runs match ``where``."""
    async with ctx.sessions() as session:
        query = select(func.count()).select_from(ConnectorRun).where(*where)
        return int(await session.scalar(query) or 0)


async def run_statuses(ctx: AppContext) -> Counter[str]:
    """Runs by status."""
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                select(ConnectorRun.status, func.count()).group_by(ConnectorRun.status)
            )
        ).all()
    return Counter({status: int(n) for status, n in rows})


async def wait_idle(ctx: AppContext, seconds: float) -> float:
    """Wait until no run is QUEUED or RUNNING (retries included); returns the seconds it took."""

    async def idle() -> bool:
        return await count_runs(ctx, ConnectorRun.status.in_(ACTIVE)) == 0

    return await wait_for(idle, seconds, "every run terminal")


async def file_states(ctx: AppContext) -> Counter[str]:
    """Stored file rows by status."""
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                select(IngestedFile.status, func.count()).group_by(IngestedFile.status)
            )
        ).all()
    return Counter({status: int(n) for status, n in rows})


async def age_stranded(ctx: AppContext) -> int:
    """Make rows left DOWNLOADED look older than the stranded sweep's 10 minutes; returns how many.

    A worker whose scheduler starts sweeps at once, so a test need not wait the real interval.
    """
    async with ctx.sessions.begin() as session:
        result = await session.execute(
            update(IngestedFile)
            .where(IngestedFile.status == "DOWNLOADED")
            .values(updated_at=ctx.clock() - STRANDED_AFTER - timedelta(minutes=1))
        )
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- files and connectors -----------------------------------------------------------------------


def axis_body(tag: str, rows: int = 5) -> bytes:
    """A valid AXIS settlement file whose transaction ids embed ``tag`` (so bytes differ)."""
    lines = [AXIS_HEADER]
    for n in range(1, rows + 1):
        lines.append(
            f"{tag}-{n:04d},{100 + n}.00,{99 + n}.50,2025-01-09,UTR{n:09d},RRN{n:06d},A{n},"
            f"2025-01-09,AXIS,SUCCESS,ok"
        )
    return ("\n".join(lines) + "\n").encode()


def publish(directory: Path, name: str, body: bytes) -> str:
    """Write a file, then its ``.sha256`` sidecar, into ``directory``; returns the SHA-256."""
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(body).hexdigest()
    (directory / name).write_bytes(body)
    (directory / f"{name}.sha256").write_text(f"{digest}  {name}\n")
    return digest


def published_in(directory: Path) -> dict[str, str]:
    """Name → SHA-256 of each file in ``directory`` whose sidecar is right (what must be stored)."""
    out: dict[str, str] = {}
    for path in sorted(directory.iterdir()):
        sidecar = path.with_name(path.name + ".sha256")
        if path.suffix == ".sha256" or not sidecar.exists():
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if sidecar.read_text().split()[0] == digest:
            out[path.name] = digest
    return out


async def sftp_connector(
    ctx: AppContext,
    server: SftpEndpoint,
    name: str,
    *,
    remote_path: str,
    provider: str = "AXIS",
    pattern: str = "AXIS_RECON_YYYYMMDD*.csv",
    **config: object,
) -> str:
    """Create an SFTP connector pinned to ``server``'s host key; returns its public id."""
    body = ConnectorCreate.model_validate(
        {
            "name": name,
            "type": "SFTP",
            "provider": provider,
            "config": {
                "host": server.host,
                "port": server.port,
                "username": "bank",
                "password": "bankpass",
                "remotePath": remote_path,
                "filePattern": pattern,
                "checksumExt": ".sha256",
                "hostKeyPolicy": "strict",
                "hostKeyFingerprint": server.fingerprint,
                "readTimeout": 10,
                "connectTimeout": 10,
                **config,
            },
        }
    )
    view, _ = await handoff.create_connector(
        ctx=ctx, body=body, actor="faults", idempotency_key=None
    )
    return str(view["id"])


def connector_pk(connector_id: str) -> int:
    """The primary key behind a public connector id."""
    return int(connector_id.removeprefix("conn_"))


CYCLE = date(2025, 1, 9)


# --- an SFTP server that counts reads -----------------------------------------------------------


@dataclass
class CountingSandbox:
    """The sandbox SFTP server on a thread, counting opens for reading by remote path."""

    host: str
    port: int
    fingerprint: str
    root: Path
    reads: Counter[str]


class _CountingSFTP(_ChrootedSFTP):
    """The sandbox's SFTP session, counting every open for reading."""

    def __init__(
        self, chan: asyncssh.SSHServerChannel[bytes], root: bytes, reads: Counter[str]
    ) -> None:
        super().__init__(chan, root)
        self._reads = reads

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        """Count the open if it reads, then open as the sandbox does."""
        if pflags & asyncssh.FXF_READ:
            self._reads[os.fsdecode(path)] += 1
        return super().open(path, pflags, attrs)


@contextmanager
def counting_sandbox(root: Path, host_key_path: Path) -> Iterator[CountingSandbox]:
    """Serve ``root`` like ``bankfeeds sandbox`` does, on a free port, counting reads."""
    (root / "upload").mkdir(parents=True, exist_ok=True)
    key = ensure_host_key(host_key_path)
    reads: Counter[str] = Counter()
    chroot = os.fsencode(root.resolve())
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> asyncssh.SSHAcceptor:
        return await asyncssh.create_server(
            lambda: _BankServer({"bank": "bankpass"}, {}),
            "127.0.0.1",
            0,
            server_host_keys=[key],
            sftp_factory=lambda chan: _CountingSFTP(chan, chroot, reads),
            allow_scp=False,
        )

    acceptor = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)

    async def close() -> None:
        acceptor.close()
        await acceptor.wait_closed()

    try:
        yield CountingSandbox(
            "127.0.0.1",
            acceptor.get_port(),
            str(key.get_fingerprint("sha256")),
            root.resolve(),
            reads,
        )
    finally:
        asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()

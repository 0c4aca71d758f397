"""SFTP benchmark: bankfeeds' ingestion against OpenSSH's sftp, paramiko and a bare listing.

Run as ``.venv/bin/python bench/sftp.py [--quick] [--rounds N]`` as root (it starts its own
OpenSSH sshd on a free loopback port, with a chroot under /run). Every round measures each
contender once, interleaved, and figures are medians over rounds. Workloads (issue 3, item 11;
issue 9, item 1):

(a) one 1 GiB file: the full pipeline (discover, download + SHA-256, verify the ``.sha256``
    sidecar, store in the local object store, record rows; a fresh SQLite database per round)
    against OpenSSH ``sftp`` (default cipher, and aes128-gcm) and paramiko ``get``;
(b) 1,000 files of 50 KB with sidecars: the pipeline against ``sftp`` ``get *`` of the same
    directory (both fetch the 2,000 files);
(c) a second run over 10,000 ingested files (zero bytes downloaded) against asyncssh connect,
    log-in and ``readdir`` of the directory;
(d) the 1 GiB adapter download with SHA-256 against the same download with hashing off.

Files are served from the page cache for every contender alike (they are read once before the
rounds), and every contender writes to the same file system. Connect and log-in are inside every
figure except (d), where both sides share them.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` and ``tests`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncssh
import paramiko  # type: ignore[import-untyped]
from sqlalchemy import func, select
from tests.support.sshd import KEY_USER, Sshd, running_sshd

from bankfeeds.connectors.model import ConnectorCreate
from bankfeeds.core.config import load_settings
from bankfeeds.pipeline import handoff
from bankfeeds.pipeline import run as ingest
from bankfeeds.scheduling import runs
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db import migrate
from bankfeeds.storage.db.models import ConnectorRun, RunFile
from bankfeeds.storage.secrets import generate_key
from bankfeeds.transports.sftp.client import CIPHERS, open_sftp
from bankfeeds.transports.sftp.params import SftpParams
from bench.common import Row, Samples, machine, markdown_table, stopwatch, write_json

DAY = date(2025, 1, 10)
PATTERN = "AXIS_RECON_YYYYMMDD*.csv"
MiB = 1 << 20
WORKER = "bench-worker"
RESULTS = Path(__file__).with_name("results-sftp.md")


@dataclass(frozen=True)
class Sizes:
    """How big each workload is (full, or small for a smoke test)."""

    big: int
    small_count: int
    small_size: int
    many_count: int


FULL = Sizes(big=1 << 30, small_count=1000, small_size=50_000, many_count=10_000)
QUICK = Sizes(big=64 * MiB, small_count=100, small_size=50_000, many_count=500)


@dataclass(frozen=True)
class Env:
    """The server, the key every contender logs in with, and the local work area."""

    server: Sshd
    key_text: str
    key_file: Path
    known_hosts: Path
    work: Path
    template_db: Path

    @property
    def upload(self) -> Path:
        """The local directory the key user sees as ``/upload``."""
        return self.server.upload_dir(KEY_USER)

    def params(self) -> SftpParams:
        """bankfeeds' connection settings for the server, host key pinned."""
        return SftpParams(
            host=self.server.host,
            port=self.server.port,
            username=KEY_USER,
            private_key=self.key_text,
            trusted_fingerprints=(self.server.fingerprint,),
        )


# --- data -------------------------------------------------------------------------------------


def _publish(directory: Path, name: str, data: bytes) -> None:
    (directory / name).write_bytes(data)
    line = f"{hashlib.sha256(data).hexdigest()}  {name}\n"
    (directory / f"{name}.sha256").write_text(line)


def make_data(env: Env, sizes: Sizes) -> None:
    """Write the three data sets (with sidecars) where the server serves them."""
    big = env.upload / "big"
    big.mkdir(mode=0o755)
    digest, name = hashlib.sha256(), "AXIS_RECON_20250110.csv"
    with (big / name).open("wb") as out:
        for _ in range(sizes.big // (8 * MiB)):
            chunk = os.urandom(8 * MiB)
            digest.update(chunk)
            out.write(chunk)
    (big / f"{name}.sha256").write_text(f"{digest.hexdigest()}  {name}\n")
    for folder, count, size in (
        ("small", sizes.small_count, sizes.small_size),
        ("many", sizes.many_count, 1000),
    ):
        directory = env.upload / folder
        directory.mkdir(mode=0o755)
        for i in range(count):
            _publish(directory, f"AXIS_RECON_20250110_{i:05d}.csv", os.urandom(size))
    # Warm the page cache, so that no contender pays for the first read from disk.
    for path in env.upload.rglob("*"):
        if path.is_file():
            with path.open("rb") as f:
                while f.read(8 * MiB):
                    pass


# --- contenders -------------------------------------------------------------------------------


@contextmanager
def fresh_dir(env: Env, name: str) -> Iterator[Path]:
    """An empty directory under the work area, removed afterwards (frees the copied bytes)."""
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=env.work))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def new_context(env: Env, home: Path) -> AppContext:
    """An application context over a fresh copy of the migrated SQLite database."""
    shutil.copyfile(env.template_db, home / "bankfeeds.db")
    settings = load_settings(
        BANKFEEDS_DATA_DIR=str(home / "data"),
        DATABASE_URL=f"sqlite:///{home / 'bankfeeds.db'}",
        BANKFEEDS_SECRET_KEY=generate_key(),
        SCHEDULER_ENABLED=False,
        BANKFEEDS_SFTP_ALLOW_HOSTS="127.0.0.1",  # the servers under test are on loopback
        _env_file=None,
    )
    return AppContext.build(settings)


async def add_connector(ctx: AppContext, env: Env, remote_dir: str) -> str:
    """A real, pinned AXIS connector row for ``remote_dir``; returns its public id."""
    config = {
        "host": env.server.host,
        "port": env.server.port,
        "username": KEY_USER,
        "privateKey": env.key_text,
        "remotePath": remote_dir,
        "filePattern": PATTERN,
        "checksumExt": ".sha256",
        "hostKeyPolicy": "strict",
        "hostKeyFingerprint": env.server.fingerprint,
        "stableSeconds": 0,
    }
    body = ConnectorCreate.model_validate(
        {"name": f"bench {remote_dir}", "type": "SFTP", "provider": "AXIS", "config": config}
    )
    view, _ = await handoff.create_connector(
        ctx=ctx, body=body, actor="bench", idempotency_key=None
    )
    return str(view["id"])


async def run_pipeline(ctx: AppContext, connector_id: str, downloaded: int) -> float:
    """Seconds for one run-now (start_run + execute); checks it did what it should."""
    with stopwatch() as elapsed:
        run = await runs.start_run(
            ctx=ctx,
            connector_id=connector_id,
            cycle_date=DAY,
            trigger="MANUAL",
            force=False,
            actor="bench",
            worker_id=WORKER,
        )
        await ingest.execute(ctx, run.id, WORKER)
    seconds = elapsed()
    async with ctx.sessions() as session:
        done = await session.get(ConnectorRun, run.id)
        stored = await session.scalar(
            select(func.count())
            .select_from(RunFile)
            .where(RunFile.run_id == run.id, RunFile.outcome == "DOWNLOADED")
        )
    assert done is not None
    # The data sets are random bytes: each file is fetched, verified and stored, then found to
    # be no bank file at all, which fails the run by design. The transfer is what is measured.
    if done.error_code not in (None, "file-unreadable") or stored != downloaded:
        raise RuntimeError(
            f"run ended {done.status} with {stored} stored, not {downloaded}: {done.error_message}"
        )
    return seconds


def pipeline(env: Env, remote_dir: str, downloaded: int) -> float:
    """One full pipeline run over ``remote_dir`` in a fresh database and data directory."""

    async def go(home: Path) -> float:
        ctx = new_context(env, home)
        try:
            cid = await add_connector(ctx, env, remote_dir)
            return await run_pipeline(ctx, cid, downloaded)
        finally:
            await ctx.close()

    with fresh_dir(env, "pipeline") as home:
        return asyncio.run(go(home))


def openssh_get(env: Env, remote: str, cipher: str | None = None) -> float:
    """Seconds for OpenSSH ``sftp -b`` to log in and ``get`` ``remote`` (a path or glob)."""
    command = [
        "sftp",
        "-q",
        "-F",
        "/dev/null",  # no user or system client config: OpenSSH's own defaults
        "-i",
        str(env.key_file),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={env.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-P",
        str(env.server.port),
        "-b",
        "-",
    ]
    if cipher:
        command += ["-c", cipher]
    command.append(f"{KEY_USER}@{env.server.host}")
    with fresh_dir(env, "sftp") as dest, stopwatch() as elapsed:
        subprocess.run(
            command, input=f"lcd {dest}\nget {remote}\n".encode(), check=True, capture_output=True
        )
    return elapsed()


def paramiko_get(env: Env, remote: str) -> float:
    """Seconds for paramiko to connect, log in and ``get`` one file (its default settings)."""
    with fresh_dir(env, "paramiko") as dest, stopwatch() as elapsed:
        client = paramiko.SSHClient()
        client.load_host_keys(str(env.known_hosts))
        client.connect(
            env.server.host,
            env.server.port,
            username=KEY_USER,
            key_filename=str(env.key_file),
            allow_agent=False,
            look_for_keys=False,
        )
        try:
            sftp = client.open_sftp()
            sftp.get(remote, str(dest / "file"))
            sftp.close()
        finally:
            client.close()
    return elapsed()


def adapter_fetch(env: Env, remote: str, *, hashing: bool) -> float:
    """Seconds for ``SftpSource.download`` of one file on an open connection."""

    async def go(dest: Path) -> float:
        async with open_sftp(env.params()) as source:
            with stopwatch() as elapsed:
                await source.download(remote, dest / "file", hashing=hashing)
            return elapsed()

    with fresh_dir(env, "fetch") as dest:
        return asyncio.run(go(dest))


def bare_listing(env: Env, remote_dir: str) -> tuple[float, float]:
    """Seconds for asyncssh to connect, log in and ``readdir``; and for ``readdir`` alone."""

    async def go() -> tuple[float, float]:
        with stopwatch() as total:
            async with (
                asyncssh.connect(
                    env.server.host,
                    env.server.port,
                    username=KEY_USER,
                    client_keys=[asyncssh.import_private_key(env.key_text)],
                    known_hosts=str(env.known_hosts),
                    config=None,
                    agent_path=None,
                    encryption_algs=CIPHERS,
                ) as conn,
                conn.start_sftp_client() as sftp,
            ):
                with stopwatch() as listing:
                    names = await sftp.readdir(remote_dir)
            if len(names) < 2:
                raise RuntimeError(f"{remote_dir} is empty")
        return total(), listing()

    return asyncio.run(go())


# --- the run ----------------------------------------------------------------------------------


def ingest_many_once(env: Env, home: Path, count: int) -> tuple[AppContext, str, float]:
    """Ingest the ``many`` directory once (untimed setup for (c)); returns its context too."""
    ctx = new_context(env, home)

    async def go() -> tuple[str, float]:
        cid = await add_connector(ctx, env, "/upload/many")
        return cid, await run_pipeline(ctx, cid, count)

    cid, seconds = asyncio.run(go())
    return ctx, cid, seconds


def rerun(ctx: AppContext, cid: str) -> float:
    """Seconds for a second run-now over files already ingested (nothing downloaded)."""

    async def go() -> float:
        try:
            return await run_pipeline(ctx, cid, 0)
        finally:
            await ctx.engine.dispose()  # the engine is bound to this event loop

    return asyncio.run(go())


def measure(env: Env, sizes: Sizes, rounds: int) -> tuple[list[Row], list[str]]:
    """Run every contender ``rounds`` times, interleaved; the table rows and notes."""
    s = Samples()
    mib = sizes.big / MiB
    big = "/upload/big/AXIS_RECON_20250110.csv"
    with fresh_dir(env, "many") as home:
        ctx, cid, first = ingest_many_once(env, home, sizes.many_count)
        rate = sizes.many_count / first
        notes = [f"first run over {sizes.many_count:,} files (untimed setup): {rate:.0f} files/s"]
        for r in range(rounds):
            print(f"round {r + 1}/{rounds}", file=sys.stderr, flush=True)
            s.add("pipe-big", mib / pipeline(env, "/upload/big", 1))
            s.add("sftp-big", mib / openssh_get(env, big))
            s.add("sftp-aes-big", mib / openssh_get(env, big, "aes128-gcm@openssh.com"))
            s.add("paramiko-big", mib / paramiko_get(env, big))
            s.add("fetch-hash", mib / adapter_fetch(env, big, hashing=True))
            s.add("fetch-nohash", mib / adapter_fetch(env, big, hashing=False))
            n = sizes.small_count
            s.add("pipe-small", n / pipeline(env, "/upload/small", n))
            s.add("sftp-small", n / openssh_get(env, "/upload/small/*"))
            s.add("rerun", rerun(ctx, cid))
            total, listing = bare_listing(env, "/upload/many")
            s.add("list", total)
            s.add("list-only", listing)
    size = f"{mib:,.0f} MiB" if mib < 1024 else f"{mib / 1024:g} GiB"
    files = f"{sizes.small_count:,} x {sizes.small_size // 1000} KB (+ sidecars)"
    fig = s.figure
    rows = [
        Row(f"(a) {size}, fetch+verify+store", "OpenSSH sftp", "MiB/s",
            fig("sftp-big"), fig("pipe-big"), 1.0),
        Row(f"(a) {size}, fetch+verify+store", "sftp -c aes128-gcm", "MiB/s",
            fig("sftp-aes-big"), fig("pipe-big"), None),
        Row(f"(a) {size}, fetch+verify+store", "paramiko get", "MiB/s",
            fig("paramiko-big"), fig("pipe-big"), 3.0),
        Row(f"(b) {files}", "OpenSSH sftp get *", "files/s",
            fig("sftp-small"), fig("pipe-small"), 1.3),
        Row(f"(c) re-run over {sizes.many_count:,} ingested", "asyncssh login+readdir", "s",
            fig("list"), fig("rerun"), 1.5, "lower"),
        Row(f"(d) {size} download, SHA-256 on vs off", "hashing off", "MiB/s",
            fig("fetch-nohash"), fig("fetch-hash"), 0.9),
    ]  # fmt: skip
    entries = sizes.many_count * 2
    notes.append(f"readdir alone of {entries:,} entries: {fig('list-only').median:.3f} s")
    return rows, notes


def setup(base: Path, server: Sshd) -> Env:
    """Write the client key and known_hosts for OpenSSH and paramiko; migrate the template DB."""
    key = server.keys["ed25519"]
    key_file = base / "id_ed25519"
    key_file.write_text(key.private_text)
    key_file.chmod(0o600)
    host_key = asyncssh.read_private_key(server.base / "ssh_host_ed25519_key")
    known = base / "known_hosts"
    known.write_text(f"[{server.host}]:{server.port} {host_key.export_public_key().decode()}")
    template = base / "template.db"
    migrate.upgrade(f"sqlite:///{template}")
    work = base / "work"
    work.mkdir()
    return Env(server, key.private_text, key_file, known, work, template)


def main() -> None:
    """Parse arguments, run the benchmark, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round, small sizes (smoke test)")
    parser.add_argument("--rounds", type=int, help="rounds (default 5, or 1 with --quick)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON (bench/run_all.py)")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    rounds = args.rounds or (1 if args.quick else 5)
    base = Path(tempfile.mkdtemp(prefix="bankfeeds-bench-sftp-", dir="/var/tmp"))
    try:
        with running_sshd() as server:
            env = setup(base, server)
            make_data(env, sizes)
            rows, notes = measure(env, sizes, rounds)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    text = "\n".join(
        [
            f"## SFTP (bench/sftp.py{' --quick' if args.quick else ''}), medians of {rounds}",
            "",
            f"Machine: {machine()}. Loopback, OpenSSH sshd; files served from the page cache.",
            "",
            markdown_table(rows),
            "",
            *(f"- {n}" for n in notes),
            "",
        ]
    )
    print(text)
    RESULTS.write_text(text)
    if args.json:
        write_json(args.json, rows, notes=notes)


if __name__ == "__main__":
    main()

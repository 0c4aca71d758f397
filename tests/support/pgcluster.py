"""A private PostgreSQL cluster a test may crash and restart, never the shared server.

``initdb`` under a fresh directory owned by the ``postgres`` user, listening on a free loopback
port and a private socket directory; every ``pg_ctl`` call runs as ``postgres`` through
``runuser``. Needs root and the PostgreSQL server binaries; :func:`skip_reason` says why not.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bankfeeds.storage.db import migrate
from tests.support import components
from tests.support.sshd import free_port

USER = "postgres"


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def skip_reason() -> str | None:
    """Why a private cluster cannot run here, or None."""
    if components.hidden(components.POSTGRES):
        return components.skip_message(components.POSTGRES, components.HIDDEN)
    if _bin_dir() is None:
        why = "its server binaries (/usr/lib/postgresql/*/bin) are missing"
        return components.skip_message(components.POSTGRES, why)
    if os.geteuid() != 0:
        return "a private PostgreSQL cluster needs root (to run pg_ctl as the postgres user)"
    if shutil.which("runuser") is None:
        return "runuser is missing"
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return f"there is no {USER} user"
    return None


@dataclass(frozen=True)
class PgCluster:
    """A running private cluster: where it lives and how to reach its one database."""

    bin_dir: Path
    base: Path
    port: int
    database: str

    @property
    def data(self) -> Path:
        """The data directory."""
        return self.base / "data"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the test database."""
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{self.database}"

    def pg_ctl(self, *args: str, timeout: float = 180) -> None:
        """Run ``pg_ctl`` on this cluster as the postgres user."""
        command = ["runuser", "-u", USER, "--", str(self.bin_dir / "pg_ctl"), "-D", str(self.data)]
        # Output to a file, not a pipe: a postmaster that pg_ctl starts inherits it and keeps it
        # open, so reading a pipe to its end would never return.
        with (self.base / "pg_ctl.log").open("ab") as out:
            subprocess.run([*command, *args], check=True, timeout=timeout, stdout=out, stderr=out)

    def restart_immediate(self) -> None:
        """Crash-restart: stop without a checkpoint (``-m immediate``), then start and wait."""
        log = str(self.base / "server.log")
        self.pg_ctl("-m", "immediate", "-l", log, "-w", "-t", "150", "restart")


@contextmanager
def private_cluster() -> Iterator[PgCluster]:
    """initdb, start, create and migrate one database; stop the cluster and delete it after."""
    bin_dir = _bin_dir()
    assert bin_dir is not None, skip_reason()
    # Not under pytest's tmp_path: its parents are 0700 root, which postgres cannot traverse.
    base = Path(tempfile.mkdtemp(prefix="bankfeeds-pg-"))
    entry = pwd.getpwnam(USER)
    os.chown(base, entry.pw_uid, entry.pw_gid)
    port = free_port()
    cluster = PgCluster(bin_dir, base, port, "bankfeeds")
    started = False
    try:
        subprocess.run(
            ["runuser", "-u", USER, "--", str(bin_dir / "initdb"), "-D", str(cluster.data),
             "-U", USER, "-A", "trust", "--no-sync", "-E", "UTF8"],
            check=True,
            timeout=120,
            capture_output=True,
        )  # fmt: skip
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {base} -c max_connections=100"
        cluster.pg_ctl("-o", options, "-l", str(base / "server.log"), "-w", "-t", "60", "start")
        started = True
        admin = f"host=127.0.0.1 port={port} user={USER} dbname=postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{cluster.database}"')
        migrate.upgrade(cluster.url)
        yield cluster
    finally:
        if started:
            with contextlib.suppress(subprocess.SubprocessError):
                cluster.pg_ctl("-m", "immediate", "-w", "stop", timeout=60)
        shutil.rmtree(base, ignore_errors=True)

"""Async engine and session factory for SQLite (aiosqlite) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bankfeeds.core.config import async_url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite issues BEGIN lazily and not before SAVEPOINT, so a savepoint that opened a
    # transaction would commit on its own; so no implicit BEGIN: ours is in _sqlite_begin.
    dbapi_conn.isolation_level = None
    # WAL lets readers proceed while the single writer commits; busy_timeout makes concurrent
    # writers wait for the lock instead of failing at once.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front (waiting up to busy_timeout for it): a deferred
    # transaction that reads and then writes fails at once with "database is locked" when
    # another writer got in between, which busy_timeout cannot help with.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def private_sqlite_file(url: str) -> None:
    """Create a SQLite URL's directory (0700) and database file (0600) if they are missing."""
    path = url.split(":///", 1)[1].split("?", 1)[0] if ":///" in url else ""
    if not url.startswith("sqlite") or not path or path == ":memory:":
        return
    Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # SQLite would create the file 0644; it gives the -wal and -shm files the database file's
    # mode, so creating it 0600 first keeps all three private.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def make_engine(url: str) -> AsyncEngine:
    """Create the async engine for ``url`` with the settings each backend needs."""
    url = async_url(url)
    if url.startswith("sqlite"):
        private_sqlite_file(url)
        # Pooled: opening an aiosqlite connection costs a thread, a connect and four PRAGMAs,
        # which dominated small-file ingestion when every session paid it.
        engine = create_async_engine(url, pool_size=5, max_overflow=10)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Session factory whose objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def is_postgres(engine: AsyncEngine) -> bool:
    """True when the engine talks to PostgreSQL."""
    return engine.dialect.name == "postgresql"

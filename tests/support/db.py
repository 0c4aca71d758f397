"""Fresh, migrated databases for tests: a copied SQLite file or a PostgreSQL clone per test."""

from __future__ import annotations

import functools
import os
import shutil
import uuid
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from bankfeeds.storage.db import migrate
from tests.support.components import HIDDEN, POSTGRES, hidden

PG_ENV = "TEST_DATABASE_URL"
#: Where `make test-deps` (.ci/deps.sh) starts PostgreSQL; used when TEST_DATABASE_URL is unset.
LOCAL_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pg_base_url() -> str | None:
    """The PostgreSQL server tests may use: TEST_DATABASE_URL, else a local one that answers."""
    if hidden(POSTGRES):
        return None
    return os.environ.get(PG_ENV) or (LOCAL_PG_URL if _local_pg_answers() else None)


def pg_absent() -> str:
    """Why :func:`pg_base_url` found no server."""
    if hidden(POSTGRES):
        return HIDDEN
    return f"{PG_ENV} is unset and postgres@127.0.0.1:5432 does not answer"


@functools.cache
def _local_pg_answers() -> bool:
    # Once per process: a missing server refuses at once, the timeout bounds a filtered port.
    try:
        with psycopg.connect(_admin_dsn(LOCAL_PG_URL), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _admin_dsn(url: str) -> str:
    u = make_url(url)
    parts = [
        f"host={u.host or '127.0.0.1'}",
        f"port={u.port or 5432}",
        f"user={u.username or 'postgres'}",
        "dbname=postgres",
    ]
    if u.password:
        parts.append(f"password={u.password}")
    return " ".join(parts)


def _with_db(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


class PgTemplates:
    """One migrated template database per test process; each test gets a clone of it."""

    def __init__(self, base_url: str, tag: str) -> None:
        self.base_url = base_url
        self.template = f"bf_tmpl_{tag}"
        self._admin = _admin_dsn(base_url)
        self._ready = False

    def _exec(self, sql: str) -> None:
        with psycopg.connect(self._admin, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def clone(self) -> tuple[str, str]:
        """Create a fresh migrated database; returns its URL and name."""
        if not self._ready:
            self._exec(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
            self._exec(f'CREATE DATABASE "{self.template}"')
            migrate.upgrade(_with_db(self.base_url, self.template))
            self._ready = True
        name = f"bf_t_{uuid.uuid4().hex[:12]}"
        self._exec(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return _with_db(self.base_url, name), name

    def drop(self, name: str) -> None:
        """Drop a clone, closing any connection left open to it."""
        self._exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        """Drop the template."""
        if self._ready:
            self._exec(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')


class SqliteTemplates:
    """One migrated SQLite file per test process, copied for each test."""

    def __init__(self, root: Path) -> None:
        self.template = root / "template.db"
        self._ready = False

    def clone(self, dest: Path) -> str:
        """Copy the migrated template to ``dest``; returns its URL."""
        if not self._ready:
            migrate.upgrade(f"sqlite:///{self.template}")
            self._ready = True
        shutil.copyfile(self.template, dest)
        return f"sqlite:///{dest}"

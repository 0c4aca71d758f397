"""Shared fixtures: a fresh database per test (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bankfeeds.core.config import Settings, load_settings
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.secrets import generate_key
from tests.support.db import PgTemplates, SqliteTemplates, pg_base_url

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def _sqlite_templates(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplates:
    return SqliteTemplates(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def _pg_templates(worker_id: str) -> Iterator[PgTemplates | None]:
    base = pg_base_url()
    if base is None:
        yield None
        return
    templates = PgTemplates(base, f"{os.getpid()}_{worker_id}")
    yield templates
    templates.close()


@pytest.fixture(params=BACKENDS)
def db_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    _sqlite_templates: SqliteTemplates,
    _pg_templates: PgTemplates | None,
) -> Iterator[str]:
    """A freshly migrated database URL, once per backend."""
    if request.param == "sqlite":
        yield _sqlite_templates.clone(tmp_path / "test.db")
        return
    if _pg_templates is None:
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL (set by .ci/run)")
    url, name = _pg_templates.clone()
    yield url
    _pg_templates.drop(name)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Settings pointing at the test database and a temporary data dir."""
    return load_settings(
        BANKFEEDS_DATA_DIR=str(tmp_path / "data"),
        DATABASE_URL=db_url,
        BANKFEEDS_SECRET_KEY=generate_key(),
        SCHEDULER_ENABLED=False,
        # The tests' SFTP servers (sandbox, sshd) listen on loopback, which connectors refuse.
        BANKFEEDS_SFTP_ALLOW_HOSTS="127.0.0.1,localhost",
        _env_file=None,
    )


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[AppContext]:
    """An application context over the test database."""
    context = AppContext.build(settings)
    yield context
    await context.close()

"""Shared fixtures: a fresh database per test (SQLite, and PostgreSQL when there is one).

Tests that need PostgreSQL, sshd or Chromium are marked ``postgres``, ``sshd`` or ``browser`` at
collection (so ``-m "not postgres"`` deselects them) and skipped there when the machine lacks it;
the run ends with one line per missing component and the command that installs them all.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from pathlib import Path

import pytest

from bankfeeds.core.config import Settings, load_settings
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.secrets import generate_key
from tests.support import components
from tests.support.db import PgTemplates, SqliteTemplates, pg_absent, pg_base_url
from tests.support.sshd import skip_reason as sshd_missing

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _pg_missing() -> str | None:
    return None if pg_base_url() else components.skip_message(components.POSTGRES, pg_absent())


def _chromium_missing() -> str | None:
    why = components.chromium_missing()
    return None if why is None else components.skip_message(components.CHROMIUM, why)


#: marker -> (the fixture that implies it, why the component is missing or None).
NEEDS: dict[str, tuple[str | None, Callable[[], str | None]]] = {
    "postgres": (None, _pg_missing),  # db_url's "postgres" param carries the marker
    "sshd": ("sshd", sshd_missing),
    "browser": ("browser", _chromium_missing),
}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with the components it needs; skip it when one is missing."""
    missing: dict[str, str | None] = {}
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        for marker, (fixture, why_missing) in NEEDS.items():
            if item.get_closest_marker(marker) is None:
                if fixture not in fixtures:
                    continue
                item.add_marker(marker)
            if marker not in missing:  # probe each component once, and only if a test needs it
                missing[marker] = why_missing()
            reason = missing[marker]
            if reason is not None:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: after pytest's short summary
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Generator[None]:
    """End the run with one line per missing component and the command that installs them."""
    yield
    reasons: Counter[str] = Counter()
    # Under xdist these are the workers' reports, which the controller receives.
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        if isinstance(longrepr, tuple) and len(longrepr) == 3:
            reasons[str(longrepr[2])] += 1
    for line in components.summary_lines(reasons):
        terminalreporter.write_line(line, yellow=True)


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
        pytest.skip(components.skip_message(components.POSTGRES, pg_absent()))
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

"""Browser tests: the real app under uvicorn, a real SQLite database, the embedded SFTP sandbox
and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from bankfeeds.access import users
from bankfeeds.connectors.model import ConnectorCreate
from bankfeeds.connectors.schedule import cycle_date_for
from bankfeeds.core.config import Settings
from bankfeeds.http.app import create_app
from bankfeeds.pipeline import handoff
from bankfeeds.sandbox.server import SandboxHandle, start_sandbox
from bankfeeds.storage.context import AppContext
from tests.support.db import SqliteTemplates
from tests.support.server import serve

CHROMIUM = "/usr/bin/chromium"
# Each test saves its screenshot; to refresh the ones docs/ui.md shows, run the browser tests
# with BANKFEEDS_SCREENSHOTS=docs/screenshots (by default they land in the ignored var/).
# CI runs the suite on four workers on two cores, where a page round trip can take seconds;
# assertions wait as long as actions do rather than Playwright's 5 s default.
expect.set_options(timeout=15_000)
SHOTS = Path(os.environ.get("BANKFEEDS_SCREENSHOTS", "var/screenshots")).resolve()
PASSWORD = "correct horse battery"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def db_url(tmp_path: Path, _sqlite_templates: SqliteTemplates) -> str:
    """Browser tests run on SQLite only: the UI adds no SQL of its own worth a second backend."""
    return _sqlite_templates.clone(tmp_path / "test.db")


class Sandbox:
    """The embedded SFTP server, run on its own event loop in a thread."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.handle: SandboxHandle = self._call(
            start_sandbox(root=root, host_key_path=root.parent / "host_key", port=0)
        )

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    @property
    def upload(self) -> Path:
        """Where files must go to be served under /upload."""
        return self.handle.root / "upload"

    def close(self) -> None:
        """Stop the server and its loop."""
        self._call(self.handle.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A fresh sandbox SFTP server for this test."""
    box = Sandbox(tmp_path / "sftp")
    yield box
    box.close()


@dataclass
class App:
    """The served app and how to reach it."""

    url: str
    settings: Settings

    def run(self, coro_fn: Any) -> Any:
        """Run ``coro_fn(ctx)`` against the app's database from the test thread."""

        async def go() -> Any:
            ctx = AppContext.build(self.settings)
            try:
                return await coro_fn(ctx)
            finally:
                await ctx.close()

        # Playwright's sync API keeps an event loop running on this thread; use another one.
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, go()).result(timeout=60)

    def add_connector(self, sandbox: Sandbox, name: str = "AXIS Sandbox", **config: Any) -> str:
        """Create an SFTP connector for the sandbox through the service; returns its id."""
        body = ConnectorCreate.model_validate(
            {
                "name": name,
                "type": "SFTP",
                "provider": "AXIS",
                "config": {
                    "host": "127.0.0.1",
                    "port": sandbox.handle.port,
                    "username": "bank",
                    "password": "bankpass",
                    "remotePath": "/upload",
                    "checksumExt": ".sha256",
                    "timezone": "Asia/Kolkata",
                    **config,
                },
            }
        )
        view, _ = self.run(
            lambda ctx: handoff.create_connector(
                ctx=ctx, body=body, actor="test", idempotency_key=None
            )
        )
        return str(view["id"])


@pytest.fixture
def app(settings: Settings) -> Iterator[App]:
    """The app on a real uvicorn server, with an admin ``ada`` and a viewer ``vic``."""
    served = App(url="", settings=settings)

    async def make_users(ctx: AppContext) -> None:
        for name, role in (("ada", "admin"), ("vic", "viewer")):
            await users.create_user(ctx=ctx, name=name, role=role, password=PASSWORD, actor="t")

    served.run(make_users)
    with serve(create_app(AppContext.build(settings), run_wait_seconds=20)) as url:
        served.url = url
        yield served


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, for one test.

    Per test, not per session: while Playwright's sync API is active it keeps an event loop
    running on this thread, which would break ``asyncio.run`` in other tests the same xdist
    worker runs next.
    """
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (.ci/run installs it)")
    with sync_playwright() as driver:
        instance = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield instance
        instance.close()


# Console errors that are not faults: a refused request (403, 422) that the test asserts on
# itself, and a request htmx cancelled because a newer one replaced it (hx-sync "replace"), which
# htmx reports as htmx:sendAbort after an htmx:afterRequest (a failed send or a timeout still
# shows as its own htmx:sendError or htmx:timeout). Any other console error fails the test.
_EXPECTED_CONSOLE = re.compile(
    r"^(Failed to load resource: the server responded with a status of 4\d\d"
    r"|htmx:(afterRequest|sendAbort)\b)"
)


def script_problems(page: Page) -> list[str]:
    """Collect the page's uncaught exceptions and unexpected console errors as they happen."""
    problems: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and not _EXPECTED_CONSOLE.match(message.text):
            problems.append(f"console error: {message.text}")

    page.on("console", console)
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    return problems


@pytest.fixture
def page(browser: Browser, app: App) -> Iterator[Page]:
    """A fresh browser context (no cookies) at 1280 x 800, rooted at the app.

    The test fails if any page threw a JavaScript error or logged an unexpected console error.
    """
    context = browser.new_context(base_url=app.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    problems = script_problems(tab)
    yield tab
    context.close()
    if problems:
        pytest.fail("JavaScript errors in the page:\n" + "\n".join(problems), pytrace=False)


def login(page: Page, name: str = "ada") -> None:
    """Log in through the form as ``name``."""
    page.goto("/ui/login")
    page.get_by_label("User name", exact=True).fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/ui")


def shot(page: Page, name: str) -> None:
    """Save a screenshot for docs/ui.md."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def target_day() -> date:
    """The cycle date a 'yesterday' connector in Asia/Kolkata fetches now."""
    return cycle_date_for("yesterday", datetime.now(UTC), "Asia/Kolkata")

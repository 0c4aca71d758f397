"""Login throttling over HTTP that an attacker cannot turn against users.

The server runs as ``bankfeeds serve`` runs it, behind a "proxy" (the test client on 127.0.0.1,
trusted through BANKFEEDS_TRUSTED_PROXIES) so each request can come from the address its
X-Forwarded-For names, and on a clock the test moves, so back-off is measured without sleeping.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn

from bankfeeds.access import login_throttle, tokens, users
from bankfeeds.app.cli import server_config
from bankfeeds.core.config import Settings
from bankfeeds.http.app import create_app
from bankfeeds.storage.context import AppContext

PASSWORD = "correct horse battery"
ATTACKER = "203.0.113.66"
OFFICE = "198.51.100.10"


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock on."""
        self.now += timedelta(seconds=seconds)


@dataclass
class Server:
    """The served app's URL, its clock and an admin API token."""

    url: str
    clock: Clock
    token: str

    def login(self, name: str, password: str, address: str | None = None) -> httpx.Response:
        """A password login through the UI form, from ``address`` (via X-Forwarded-For)."""
        headers = {"X-Forwarded-For": address} if address else {}
        with httpx.Client(base_url=self.url, timeout=30, headers=headers) as client:
            found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text)
            assert found is not None
            data = {"csrf_token": found.group(1), "username": name, "password": password}
            return client.post("/ui/login", data=data)

    def token_login(self, address: str) -> httpx.Response:
        """An API-token login through the UI form, from ``address``."""
        headers = {"X-Forwarded-For": address}
        with httpx.Client(base_url=self.url, timeout=30, headers=headers) as client:
            found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text)
            assert found is not None
            data = {"csrf_token": found.group(1), "method": "token", "token": self.token}
            return client.post("/ui/login", data=data)


async def _setup(settings: Settings) -> str:
    ctx = AppContext.build(settings)
    try:
        await users.create_user(ctx=ctx, name="ada", role="admin", password=PASSWORD, actor="t")
        return (await tokens.create_token(ctx=ctx, name="robot", role="admin", actor="t"))[1]
    finally:
        await ctx.close()


@pytest.fixture
def robot(settings: Settings) -> str:
    """The user ``ada`` and an admin API token ``robot`` (returned) in the test database."""
    return asyncio.run(_setup(settings))


@contextmanager
def _serve_as_cli(settings: Settings, clock: Clock) -> Iterator[str]:
    """Serve the app with the uvicorn settings ``bankfeeds serve`` uses, on a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(AppContext.build(settings, clock=clock))
    server = uvicorn.Server(server_config(app, settings, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


def _served(settings: Settings, token: str, trusted: tuple[str, ...]) -> Iterator[Server]:
    clock = Clock()
    with _serve_as_cli(settings.model_copy(update={"trusted_proxies": trusted}), clock) as url:
        yield Server(url, clock, token)


@pytest.fixture
def proxied(settings: Settings, robot: str) -> Iterator[Server]:
    """The app behind a trusted proxy on 127.0.0.1."""
    yield from _served(settings, robot, ("127.0.0.1/32",))


@pytest.fixture
def direct(settings: Settings, robot: str) -> Iterator[Server]:
    """The app with no trusted proxy: X-Forwarded-For is the client's own claim."""
    yield from _served(settings, robot, ())


def _fail_20_times(server: Server, name: str, address: str) -> None:
    """Twenty real failures, each let through by moving the clock past its back-off."""
    for _ in range(20):
        answer = server.login(name, "wrong password!", address)
        if answer.status_code == 429:
            server.clock.advance(int(answer.headers["retry-after"]))
            answer = server.login(name, "wrong password!", address)
        assert answer.status_code == 401


def test_an_attackers_failures_do_not_lock_the_user_out(proxied: Server) -> None:
    _fail_20_times(proxied, "ada", ATTACKER)
    assert proxied.login("ada", PASSWORD, ATTACKER).status_code == 429  # the attacker waits
    assert proxied.login("ada", PASSWORD, OFFICE).status_code == 303  # ada does not
    assert proxied.login("ADA ", PASSWORD, ATTACKER).status_code == 429  # however it is typed


async def _fail_many(settings: Settings, clock: Clock, address: str, count: int) -> None:
    ctx = AppContext.build(settings, clock=clock)
    try:
        for i in range(count):
            await login_throttle.failed(ctx=ctx, user=f"sprayed{i}", address=address)
    finally:
        await ctx.close()


#: Five failed logins for ada from the attacker's address, counted by a process of its own.
_OTHER_PROCESS = """
import asyncio, os
from bankfeeds.access import login_throttle
from bankfeeds.core.config import load_settings
from bankfeeds.storage.context import AppContext

async def main() -> None:
    ctx = AppContext.build(load_settings(_env_file=None))
    try:
        for _ in range(5):
            await login_throttle.failed(ctx=ctx, user="ada", address=os.environ["ADDRESS"])
    finally:
        await ctx.close()

asyncio.run(main())
"""


def test_failures_counted_by_another_process_hold_here(proxied: Server, settings: Settings) -> None:
    # Behind a load balancer each login may reach another process: the counts must be shared.
    assert settings.database_url is not None and settings.secret_key is not None
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "BANKFEEDS_SECRET_KEY": settings.secret_key.get_secret_value(),
        "BANKFEEDS_DATA_DIR": str(settings.data_dir),
        "SCHEDULER_ENABLED": "false",
        "ADDRESS": ATTACKER,
    }
    subprocess.run([sys.executable, "-c", _OTHER_PROCESS], env=env, check=True, timeout=60)
    assert proxied.login("ada", PASSWORD, ATTACKER).status_code == 429
    assert proxied.login("ada", PASSWORD, OFFICE).status_code == 303


def test_password_failures_never_stop_a_token(proxied: Server, settings: Settings) -> None:
    for i in range(20):  # twenty names, one wrong password each, from one address
        assert proxied.login(f"user{i}", "wrong password!", ATTACKER).status_code == 401
    # ... and a hundred more, past the address's own ceiling.
    asyncio.run(_fail_many(settings, proxied.clock, ATTACKER, 100))
    assert proxied.login("someone", "wrong password!", ATTACKER).status_code == 429
    assert proxied.token_login(ATTACKER).status_code == 303
    bearer = {"Authorization": f"Bearer {proxied.token}", "X-Forwarded-For": ATTACKER}
    assert httpx.get(proxied.url + "/ops/connectors", headers=bearer).status_code == 200
    assert proxied.login("ada", PASSWORD, OFFICE).status_code == 303


def test_back_off_doubles_and_is_counted_per_name_and_address(proxied: Server) -> None:
    for _ in range(5):
        assert proxied.login("ada", "wrong password!", ATTACKER).status_code == 401
    waits = []
    for _ in range(4):
        refused = proxied.login("ada", PASSWORD, ATTACKER)
        assert refused.status_code == 429
        assert "Too many failed logins" in refused.text
        assert "bf_session" not in refused.headers.get("set-cookie", "")
        waits.append(int(refused.headers["retry-after"]))
        proxied.clock.advance(waits[-1] - 0.5)
        assert proxied.login("ada", PASSWORD, ATTACKER).status_code == 429  # not yet
        proxied.clock.advance(0.5)
        assert proxied.login("ada", "wrong password!", ATTACKER).status_code == 401
    assert waits == [1, 2, 4, 8]
    assert proxied.login("nobody", "wrong password!", ATTACKER).status_code == 401
    proxied.clock.advance(16)
    assert proxied.login("ada", PASSWORD, ATTACKER).status_code == 303
    # A success clears ada's count from that address: five free failures again.
    for _ in range(5):
        assert proxied.login("ada", "wrong password!", ATTACKER).status_code == 401
    assert proxied.login("ada", "wrong password!", ATTACKER).status_code == 429


def test_forwarded_for_is_read_from_the_right_and_only_from_a_trusted_peer(
    proxied: Server, direct: Server
) -> None:
    # A client behind the proxy cannot pick its address by writing X-Forwarded-For itself:
    # the proxy appends the address it saw, and that right-most one is used.
    for spoof in range(5):
        chain = f"10.9.9.{spoof}, {ATTACKER}"
        assert proxied.login("ada", "wrong password!", chain).status_code == 401
    assert proxied.login("ada", PASSWORD, f"10.9.9.77, {ATTACKER}").status_code == 429
    assert proxied.login("ada", PASSWORD, f"{ATTACKER}, {OFFICE}").status_code == 303
    # Without a trusted proxy the header is the client's claim and is ignored: every request
    # here comes from 127.0.0.1, whatever it says.
    for spoof in range(5):
        assert direct.login("ada", "wrong password!", f"10.8.8.{spoof}").status_code == 401
    assert direct.login("ada", PASSWORD, OFFICE).status_code == 429
    assert direct.login("ada", PASSWORD).status_code == 429


async def test_an_address_has_a_much_higher_ceiling(ctx: AppContext) -> None:
    for i in range(99):
        await login_throttle.failed(ctx=ctx, user=f"user{i}", address=ATTACKER)
    assert await login_throttle.retry_after(ctx=ctx, user="next", address=ATTACKER) is None
    await login_throttle.failed(ctx=ctx, user="user99", address=ATTACKER)
    assert await login_throttle.retry_after(ctx=ctx, user="next", address=ATTACKER) == 1
    assert await login_throttle.retry_after(ctx=ctx, user="next", address=OFFICE) is None
    # A success for one name does not reset the address's own count.
    await login_throttle.succeeded(ctx=ctx, user="user1", address=ATTACKER)
    assert await login_throttle.retry_after(ctx=ctx, user="next", address=ATTACKER) == 1


def test_the_scheme_is_believed_only_from_a_trusted_proxy(proxied: Server, direct: Server) -> None:
    # Cookies are Secure when the page came over https; only a trusted proxy can say it did.
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": OFFICE}
    for server, secure in ((proxied, True), (direct, False)):
        page = httpx.get(server.url + "/ui/login", headers=headers)
        assert page.status_code == 200
        assert ("secure" in page.headers["set-cookie"].lower()) is secure


def _login_via_tls_proxy(server: Server) -> httpx.Response:
    """A password login from a page at https://bankfeeds.example, through a TLS proxy that sends
    the app its own upstream address as Host (nginx's default) and the public one as
    X-Forwarded-Host."""
    headers = {
        "X-Forwarded-For": OFFICE,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "bankfeeds.example",
    }
    with httpx.Client(base_url=server.url, timeout=30, headers=headers) as client:
        page = client.get("/ui/login")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found is not None
        # The cookie is Secure when the page came over https; the proxy would pass it on.
        cookie = "; ".join(f"{k}={v}" for k, v in page.cookies.items())
        data = {"csrf_token": found.group(1), "username": "ada", "password": PASSWORD}
        origin = {"Origin": "https://bankfeeds.example", "Cookie": cookie}
        return client.post("/ui/login", data=data, headers=origin)


def test_the_public_host_is_believed_only_from_a_trusted_proxy(
    proxied: Server, direct: Server
) -> None:
    # Behind a TLS-terminating proxy the page's Origin is the public host, not the Host the
    # proxy sends upstream: the Origin check must compare it with X-Forwarded-Host.
    assert _login_via_tls_proxy(proxied).status_code == 303
    # Without a trusted proxy X-Forwarded-Host is the client's own claim: the Host must match.
    assert _login_via_tls_proxy(direct).status_code == 403

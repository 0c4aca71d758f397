"""The UI's guards over HTTP: CSRF token and Origin on every change, and login throttling."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bankfeeds.config import Settings
from bankfeeds.services import users
from bankfeeds.services.context import AppContext
from bankfeeds.services.login_throttle import Limit, LoginThrottle
from tests.security.conftest import Live
from tests.support.bodies import spec_body

PASSWORD = "correct horse battery"


async def _add_user(settings: Settings, name: str, role: str = "admin") -> None:
    ctx = AppContext.build(settings)
    try:
        await users.create_user(ctx=ctx, name=name, role=role, password=PASSWORD, actor="t")
    finally:
        await ctx.close()


def _login_csrf(client: httpx.Client) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text)
    assert found is not None
    return found.group(1)


def _try(client: httpx.Client, name: str, password: str) -> httpx.Response:
    data = {"csrf_token": _login_csrf(client), "username": name, "password": password}
    return client.post("/ui/login", data=data)


@pytest.fixture
def ada(live: Live) -> httpx.Client:
    """A logged-in admin UI session, with one connector to act on."""
    asyncio.run(_add_user(live.settings, "ada"))
    assert live.client("admin").post("/ops/connectors", json=spec_body()).status_code == 201
    client = live.client(None)
    assert _try(client, "ada", PASSWORD).status_code == 303
    return client


def _session_csrf(client: httpx.Client) -> str:
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/ui").text)
    assert found is not None
    return found.group(1)


def _paused(live: Live) -> bool:
    return live.client("admin").get("/ops/connectors/conn_1").json()["status"] == "PAUSED"


def test_a_change_without_the_token_or_from_another_site_is_refused(
    live: Live, ada: httpx.Client
) -> None:
    csrf = _session_csrf(ada)
    own = live.url
    attempts = [
        {},  # no token
        {"X-CSRF-Token": "wrong"},
        {"X-CSRF-Token": csrf, "Origin": "https://evil.example"},
        {"X-CSRF-Token": csrf, "Origin": "null"},
        {"X-CSRF-Token": csrf, "Origin": own.replace("127.0.0.1", "localhost")},
        {"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"},
    ]
    for headers in attempts:
        answer = ada.post("/ui/connectors/conn_1/pause", headers=headers)
        assert answer.status_code == 403, headers
        assert not _paused(live)
    form = ada.post(
        "/ui/connectors/conn_1/pause", data={"csrf_token": csrf}, headers={"Origin": "http://x.y"}
    )
    assert form.status_code == 403 and not _paused(live)
    same_site = ada.post(
        "/ui/connectors/conn_1/pause", headers={"X-CSRF-Token": csrf, "Origin": own}
    )
    assert same_site.status_code == 200 and _paused(live)


def test_login_from_another_site_is_refused(live: Live) -> None:
    asyncio.run(_add_user(live.settings, "ada"))
    client = live.client(None)
    data = {"csrf_token": _login_csrf(client), "username": "ada", "password": PASSWORD}
    refused = client.post("/ui/login", data=data, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert "bf_session" not in refused.headers.get("set-cookie", "")


def test_sixth_failed_login_is_429_even_with_the_right_password(live: Live) -> None:
    asyncio.run(_add_user(live.settings, "ada"))
    client = live.client(None)
    for _ in range(5):
        assert _try(client, "ada", "wrong password").status_code == 401
    locked = _try(client, "ada", "wrong password")
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["retry-after"]) <= 300
    assert "Too many failed logins" in locked.text
    right = _try(client, "ADA ", PASSWORD)  # the count is per user name, however it is typed
    assert right.status_code == 429
    assert "bf_session" not in right.headers.get("set-cookie", "")
    other = _try(client, "nobody-else", "wrong password")  # another name is not locked out
    assert other.status_code == 401


def test_a_successful_login_resets_the_count(live: Live) -> None:
    asyncio.run(_add_user(live.settings, "ada"))
    client = live.client(None)
    for _ in range(4):
        assert _try(client, "ada", "wrong password").status_code == 401
    assert _try(client, "ada", PASSWORD).status_code == 303
    for _ in range(5):
        assert _try(client, "ada", "wrong password").status_code == 401
    assert _try(client, "ada", "wrong password").status_code == 429


def test_token_logins_are_throttled_per_address(live: Live) -> None:
    client = live.client(None)
    for _ in range(20):
        data = {"csrf_token": _login_csrf(client), "method": "token", "token": "bf_guess"}
        assert client.post("/ui/login", data=data).status_code == 401
    data = {"csrf_token": _login_csrf(client), "method": "token", "token": "bf_guess"}
    assert client.post("/ui/login", data=data).status_code == 429


# --- the rules themselves, with the clock as an argument -------------------------------------

T0 = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)


def test_window_slides_and_retry_after_counts_down() -> None:
    throttle = LoginThrottle(per_user=Limit(5, timedelta(minutes=5)))
    for i in range(5):
        assert throttle.retry_after(user="ada", address="10.0.0.1", now=T0) is None
        throttle.failed(user="ada", address="10.0.0.1", now=T0 + timedelta(seconds=i))
    assert throttle.retry_after(user="ada", address="10.0.0.1", now=T0 + timedelta(seconds=10)) == (
        290
    )
    # The first failure ages out at 5 min: one more try, which fails again, locks again.
    free = T0 + timedelta(minutes=5)
    assert throttle.retry_after(user="ada", address="10.0.0.1", now=free) is None
    throttle.failed(user="ada", address="10.0.0.1", now=free)
    assert throttle.retry_after(user="ada", address="10.0.0.2", now=free) == 1


def test_address_limit_spans_user_names_and_survives_a_success() -> None:
    throttle = LoginThrottle(per_address=Limit(3, timedelta(minutes=5)))
    for name in ("a", "b", "c"):
        throttle.failed(user=name, address="10.0.0.9", now=T0)
    throttle.succeeded(user="a")
    assert throttle.retry_after(user="d", address="10.0.0.9", now=T0) == 300
    assert throttle.retry_after(user="d", address="10.0.0.8", now=T0) is None


def test_memory_is_bounded() -> None:
    throttle = LoginThrottle(max_keys=100)
    for i in range(1000):
        throttle.failed(user=f"user{i}", address=None, now=T0)
    assert len(throttle._failures) == 100

"""The UI's guards over HTTP: CSRF token and Origin on every change (throttling: test_throttle)."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from bankfeeds.core.config import Settings
from tests.security.conftest import Live
from tests.support.bodies import spec_body
from tests.support.ui_users import PASSWORD, add_user, login_csrf


async def _add_user(settings: Settings, name: str, role: str = "admin") -> None:
    await add_user(settings, name, role)


def _try(client: httpx.Client, name: str, password: str) -> httpx.Response:
    data = {"csrf_token": login_csrf(client), "username": name, "password": password}
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
    data = {"csrf_token": login_csrf(client), "username": "ada", "password": PASSWORD}
    refused = client.post("/ui/login", data=data, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert "bf_session" not in refused.headers.get("set-cookie", "")

"""The UI's login, session cookie, CSRF and roles, over HTTP against a live server (both DBs)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import httpx
import pytest
from tests.support.bodies import spec_body
from tests.support.server import serve

from bankfeeds.access import tokens, users
from bankfeeds.core.config import Settings
from bankfeeds.http.app import create_app
from bankfeeds.storage.context import AppContext

PASSWORD = "correct horse battery"


async def _setup(settings: Settings) -> str:
    ctx = AppContext.build(settings)
    try:
        for name, role in (("ada", "admin"), ("olive", "operator"), ("vic", "viewer")):
            await users.create_user(ctx=ctx, name=name, role=role, password=PASSWORD, actor="t")
        _, token = await tokens.create_token(ctx=ctx, name="robot", role="viewer", actor="t")
        return token
    finally:
        await ctx.close()


@pytest.fixture
def ui(settings: Settings) -> Iterator[tuple[str, str]]:
    """The served app's URL and a viewer API token."""
    token = asyncio.run(_setup(settings))
    with serve(create_app(AppContext.build(settings))) as url:
        yield url, token


def _login(url: str, **fields: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    page = client.get("/ui/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    client.post("/ui/login", data={"csrf_token": csrf.group(1), **fields})
    return client


def _csrf(client: httpx.Client) -> str:
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/ui").text)
    assert found is not None
    return found.group(1)


def _connector(client: httpx.Client, token: str) -> str:
    return str(client.post("/ops/connectors", json=spec_body(), headers={
        "Authorization": f"Bearer {token}"}).json()["id"])  # fmt: skip


def test_pages_need_a_login(ui: tuple[str, str]) -> None:
    with httpx.Client(base_url=ui[0]) as client:
        assert client.get("/").headers["location"] == "/ui"
        answer = client.get("/ui/exceptions")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/login?next=/ui/exceptions"
        htmx = client.get("/ui/connectors/grid", headers={"HX-Request": "true"})
        assert htmx.status_code == 401
        assert htmx.headers["HX-Redirect"].startswith("/ui/login")


def test_password_login_sets_a_safe_cookie(ui: tuple[str, str]) -> None:
    client = httpx.Client(base_url=ui[0])
    page = client.get("/ui/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    wrong = client.post("/ui/login", data={"csrf_token": csrf.group(1), "username": "ada",
                                           "password": "nope nope nope"})  # fmt: skip
    assert wrong.status_code == 401
    assert "user name or password is wrong" in wrong.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', wrong.text)
    assert csrf is not None
    fields = {"username": "ada", "password": PASSWORD, "next": "https://evil.example/"}
    ok = client.post("/ui/login", data={"csrf_token": csrf.group(1), **fields})
    assert ok.status_code == 303
    assert ok.headers["location"] == "/ui"  # never redirects off-site
    cookie = ok.headers["set-cookie"].lower()
    assert "bf_session=" in cookie
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie  # plain http here; https sets Secure
    assert client.get("/ui").status_code == 200
    client.close()


def test_login_form_without_its_token_is_refused(ui: tuple[str, str]) -> None:
    with httpx.Client(base_url=ui[0]) as client:
        answer = client.post("/ui/login", data={"username": "ada", "password": PASSWORD})
        assert answer.status_code == 403
        assert "bf_session" not in answer.headers.get("set-cookie", "")


def test_token_login_and_revocation_ends_the_session(
    ui: tuple[str, str], settings: Settings
) -> None:
    url, token = ui
    client = _login(url, method="token", token=token)
    assert client.get("/ui").status_code == 200
    admin_token = asyncio.run(_token(settings, "admin"))
    revoke = httpx.delete(f"{url}/ops/tokens/robot",
                          headers={"Authorization": f"Bearer {admin_token}"})  # fmt: skip
    assert revoke.status_code == 204
    assert client.get("/ui").status_code == 303  # the cookie no longer works
    client.close()


def test_forged_or_expired_cookie_is_ignored(ui: tuple[str, str]) -> None:
    client = _login(ui[0], username="ada", password=PASSWORD)
    value = client.cookies["bf_session"]
    payload, _, mac = value.rpartition(".")
    client.cookies.set("bf_session", payload + "." + mac[::-1])
    assert client.get("/ui").status_code == 303
    client.close()


def test_changes_need_the_csrf_token(ui: tuple[str, str], settings: Settings) -> None:
    client = _login(ui[0], username="ada", password=PASSWORD)
    cid = _connector(client, asyncio.run(_token(settings, "admin")))
    assert client.post(f"/ui/connectors/{cid}/pause").status_code == 403
    assert client.post(f"/ui/connectors/{cid}/pause", data={"csrf_token": "x"}).status_code == 403
    assert client.post(f"/ui/connectors/{cid}/pause", headers={
        "X-CSRF-Token": "wrong"}).status_code == 403  # fmt: skip
    csrf = _csrf(client)
    paused = client.post(f"/ui/connectors/{cid}/pause", headers={"X-CSRF-Token": csrf})
    assert paused.status_code == 200
    assert "Resume" in paused.text
    form = client.post(f"/ui/connectors/{cid}/resume", data={"csrf_token": csrf})
    assert form.status_code == 200
    assert client.post("/ui/logout", data={"csrf_token": csrf}).status_code == 303
    client.close()


async def _token(settings: Settings, role: str) -> str:
    ctx = AppContext.build(settings)
    try:
        return (await tokens.create_token(ctx=ctx, name=f"t-{role}", role=role, actor="t"))[1]
    finally:
        await ctx.close()


@pytest.mark.parametrize(
    ("who", "pause", "edit"), [("vic", 403, 403), ("olive", 200, 403), ("ada", 200, 200)]
)
def test_roles_apply_to_ui_actions(
    ui: tuple[str, str], settings: Settings, who: str, pause: int, edit: int
) -> None:
    client = _login(ui[0], username=who, password=PASSWORD)
    cid = _connector(client, asyncio.run(_token(settings, "admin")))
    csrf = {"X-CSRF-Token": _csrf(client)}
    page = client.get("/ui").text
    assert ("Run now" in page) is (pause == 200)
    assert ("Add Connector" in page) is (edit == 200)
    assert client.post(f"/ui/connectors/{cid}/pause", headers=csrf).status_code == pause
    assert client.get(f"/ui/connectors/{cid}/edit").status_code == edit
    assert client.get(f"/ui/connectors/{cid}/history").status_code == 200
    client.close()

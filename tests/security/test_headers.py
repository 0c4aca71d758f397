"""Security headers on every kind of response, and a policy that allows no inline script."""

from __future__ import annotations

import asyncio
import re

import httpx
from fastapi import FastAPI

from bankfeeds.access import users
from bankfeeds.core.config import Settings
from bankfeeds.http.app import create_app
from bankfeeds.http.headers import script_hashes
from bankfeeds.storage.context import AppContext
from tests.security.conftest import Live
from tests.support.bodies import spec_body
from tests.support.server import serve


def directives(csp: str) -> dict[str, list[str]]:
    """A Content-Security-Policy as ``{directive: [sources]}``."""
    out: dict[str, list[str]] = {}
    for part in csp.split(";"):
        name, *sources = part.split()
        out[name] = sources
    return out


def assert_secure(answer: httpx.Response, *, cacheable: bool = False) -> None:
    """The headers every response must carry."""
    h = answer.headers
    csp = directives(h["content-security-policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] in ("no-referrer", "same-origin")
    assert h["x-frame-options"] == "DENY"
    if not cacheable:
        assert h["cache-control"] == "no-store"


def test_api_ui_static_errors_all_carry_the_headers(live: Live) -> None:
    admin = live.client("admin")
    anonymous = live.client(None)
    json_ok = admin.get("/ops/connectors")
    assert json_ok.status_code == 200
    assert_secure(json_ok)
    login = anonymous.get("/ui/login")
    assert login.status_code == 200 and "text/html" in login.headers["content-type"]
    assert_secure(login)
    static = anonymous.get("/ui/static/app.js")
    assert static.status_code == 200
    assert_secure(static, cacheable=True)
    missing = anonymous.get("/no/such/page")
    assert missing.status_code == 404
    assert_secure(missing)
    unauthorized = anonymous.get("/ops/connectors")
    assert unauthorized.status_code == 401
    assert unauthorized.headers["content-type"].startswith("application/problem+json")
    assert_secure(unauthorized)
    for answer in (
        anonymous.get("/healthz"),
        anonymous.get("/metrics"),
        anonymous.get("/"),  # a redirect
        anonymous.get("/ui"),  # the login redirect
        admin.post("/ops/connectors", content=b"{", headers={"content-type": "application/json"}),
        admin.post("/ops/connectors", content=b" " * (live.settings.max_body_bytes + 1)),
        anonymous.get("/openapi.json"),
    ):
        assert answer.status_code < 500
        assert_secure(answer)


def test_pages_use_no_inline_script_or_style(live: Live) -> None:
    """What the policy forbids the templates must not need: no inline script, style or handler."""
    asyncio.run(_admin_user(live.settings))
    client = live.client(None)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text)
    assert csrf is not None
    data = {"csrf_token": csrf.group(1), "username": "ada", "password": "correct horse battery"}
    assert client.post("/ui/login", data=data).status_code == 303
    assert live.client("admin").post("/ops/connectors", json=spec_body()).status_code == 201
    for path in ("/ui", "/ui/login", "/ui/recon", "/ui/exceptions", "/ui/connectors/new",
                 "/ui/connectors/conn_1/edit", "/ui/connectors/conn_1/history"):  # fmt: skip
        html = client.get(path).text
        assert script_hashes(html.encode()) == [], path
        assert re.search(r"<script(?![^>]*\bsrc=)", html) is None, path
        assert re.search(r"<style|\sstyle=|\son[a-z]+=|javascript:", html) is None, path


async def _admin_user(settings: Settings) -> None:
    ctx = AppContext.build(settings)
    try:
        await users.create_user(
            ctx=ctx, name="ada", role="admin", password="correct horse battery", actor="t"
        )
    finally:
        await ctx.close()


def test_an_unexpected_500_carries_them_too(settings: Settings) -> None:
    app: FastAPI = create_app(AppContext.build(settings))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    with serve(app) as url:
        answer = httpx.get(url + "/boom")
    assert answer.status_code == 500
    assert answer.json()["status"] == 500
    assert_secure(answer)


def test_docs_pages_allow_only_their_own_inline_script(live: Live) -> None:
    page = live.client(None).get("/docs")
    assert page.status_code == 200
    csp = directives(page.headers["content-security-policy"])
    hashes = script_hashes(page.content)
    assert len(hashes) == 1
    assert hashes[0] in csp["script-src"]
    assert "'unsafe-inline'" not in csp["script-src"]
    assert "'unsafe-eval'" not in csp["script-src"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert page.headers["x-frame-options"] == "DENY"

"""Secrets planted in API connector fields never reach a run, a log, an exception or an answer.

Runs fail every way we can make them: a 401 and a 500 whose bodies quote every request header, a
refused connection, a refused redirect, a TLS handshake with a plain-http server, and a legacy
row whose token has a line break (saved before save-time checks existed; now refused at save).
Then the database file (and its WAL), the captured logs and every API answer are searched.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import update

from bankfeeds.core.config import Settings
from bankfeeds.core.ids import parse_id
from bankfeeds.core.logs import JsonFormatter
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector
from tests.security.conftest import Live
from tests.security.test_secrets import _db_dump, _sqlite_bytes
from tests.support.server import serve

TOKEN = "tok-Planted-bearer-61733"
API_KEY = "key-Planted-apikey-90412"
USER, PASSWORD = "merchant-7", "pw-Planted-basic-55120"
HEADER_SECRET = "hdr-Planted-client-secret-3318"
LEGACY_TOKEN = "tok-Legacy-before-2291\nX-Evil: tok-Legacy-after-7710"
LEGACY_HEADER = "hdr-Legacy-value-0452\r\nX-Injected: 1"


def _echo_bank(closed_port: int) -> FastAPI:
    """A bank that quotes every request header back in its error answers."""
    app = FastAPI()

    @app.get("/echo")
    async def echo(request: Request) -> Response:
        return JSONResponse(
            {"message": f"denied; you sent {dict(request.headers)}"}, status_code=401
        )

    @app.get("/boom")
    async def boom(request: Request) -> Response:
        lines = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
        return PlainTextResponse(f"internal error handling\n{lines}", status_code=500)

    @app.get("/elsewhere")
    async def elsewhere() -> Response:
        return Response(status_code=302, headers={"Location": f"http://127.0.0.1:{closed_port}/"})

    return app


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def bank() -> Iterator[str]:
    """The echoing bank's base URL."""
    with serve(_echo_bank(_closed_port())) as url:
        yield url


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Loopback allowlisted (a bare host: the bank's own port, not others)."""
    return settings.model_copy(update={"api_allow_hosts": frozenset({"127.0.0.1"})})


def _config(base: str, endpoint: str, auth: str) -> dict[str, Any]:
    creds: dict[str, Any] = {
        "none": {},
        "bearer": {"token": TOKEN},
        "apiKey": {"apiKey": API_KEY, "apiKeyHeader": "X-Bank-Key"},
        "basic": {"username": USER, "password": PASSWORD},
    }[auth]
    return {
        "baseUrl": base,
        "endpoint": endpoint,
        "authType": auth,
        "headers": {"X-Client-Secret": HEADER_SECRET},
        "readTimeout": 5,
        "connectTimeout": 5,
        **creds,
    }


async def _plant_legacy(settings: Settings, cid: str) -> None:
    """Store a token and a header with line breaks, as the API accepted them before."""
    ctx = AppContext.build(settings)
    try:
        async with ctx.sessions.begin() as session:
            secrets = {"token": LEGACY_TOKEN, "headers": json.dumps({"X-Legacy": LEGACY_HEADER})}
            await session.execute(
                update(Connector)
                .where(Connector.id == parse_id("connector", cid))
                .values(secrets=ctx.secrets.encrypt(secrets))
            )
    finally:
        await ctx.close()


def test_failed_runs_leak_no_secret(
    live: Live, bank: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    admin, operator, viewer = live.client("admin"), live.client("operator"), live.client("viewer")
    https = bank.replace("http://", "https://")
    refused = f"http://127.0.0.1:{_closed_port()}"
    kinds = {
        "401 quoting bearer": _config(bank, "/echo", "bearer"),
        "401 quoting basic": _config(bank, "/echo", "basic"),
        "500 quoting api key": _config(bank, "/boom", "apiKey"),
        "connection refused": _config(refused, "/x", "bearer"),
        "redirect refused": _config(bank, "/elsewhere", "bearer"),
        "tls error": _config(https, "/echo", "apiKey"),
        "legacy line break": _config(bank, "/echo", "bearer"),
    }
    seen: list[str] = []

    def keep(answer: httpx.Response) -> httpx.Response:
        seen.append(f"{answer.request.method} {answer.request.url} {answer.text}")
        return answer

    ids: dict[str, str] = {}
    for index, (kind, config) in enumerate(kinds.items()):
        body = {"name": f"API {index}", "type": "API", "provider": "HDFC", "config": config}
        created = keep(admin.post("/ops/connectors", json=body))
        assert created.status_code == 201, (kind, created.text)
        ids[kind] = created.json()["id"]
    asyncio.run(_plant_legacy(live.settings, ids["legacy line break"]))

    runs = {}
    for kind, cid in ids.items():
        ran = keep(
            operator.post(f"/ops/connectors/{cid}/run-now", json={"cycleDate": "2025-01-10"})
        )
        runs[kind] = ran.json()
        keep(operator.post(f"/ops/connectors/{cid}/test"))
    assert {k: r["status"] for k, r in runs.items()} == dict.fromkeys(kinds, "FAILED"), runs
    assert "answered HTTP 401" in runs["401 quoting bearer"]["error"]
    assert "token must not contain control characters" in runs["legacy line break"]["error"]

    for kind, cid in ids.items():
        keep(viewer.get(f"/ops/connectors/{cid}"))
        keep(viewer.get(f"/ops/connectors/{cid}/runs"))
        keep(viewer.get(f"/ops/runs/{runs[kind]['id']}"))
    for path in ("/ops/connectors", "/ops/exceptions", "/ops/audit"):
        assert keep(admin.get(path)).status_code == 200, path
    assert "RUN_FAILED" in seen[-2]  # the refused runs opened exceptions with their errors

    secrets = [
        TOKEN,
        API_KEY,
        PASSWORD,
        HEADER_SECRET,
        base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
    ]
    secrets += [LEGACY_TOKEN, LEGACY_HEADER, *LEGACY_TOKEN.splitlines()]
    secrets += ["hdr-Legacy-value-0452", repr(LEGACY_TOKEN)[1:-1]]
    formatter = JsonFormatter()
    places = {
        "logs": "\n".join(formatter.format(r) for r in caplog.records),
        "responses": "\n".join(seen),
        "database rows": asyncio.run(_db_dump(live.settings)),
    }
    raw = _sqlite_bytes(live.settings.resolved_database_url)
    leaks = [(s, where) for s in secrets for where, text in places.items() if s in text]
    leaks += [(s, "database file") for s in secrets if s.encode() in raw]
    assert leaks == []

"""Custom API headers are secrets: encrypted at rest, masked on read, never sent to another origin.

A real bank on 127.0.0.1 answers the connector's first request with a 302 to a second server on
another port (another origin), which records every header it receives.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import update

from bankfeeds.core.config import Settings
from bankfeeds.core.ids import parse_id
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector
from tests.security.conftest import Live
from tests.security.test_secrets import _sqlite_bytes
from tests.support.server import serve

CLIENT_SECRET = "X-Client-S3cret-value-40917"
BEARER = "tok-Redirect-bearer-88213"
CSV = b"TXNID,AMOUNT\nT1,1.00\n"


@dataclass
class Recorder:
    """A running server: its base URL and the headers of every request, by path."""

    url: str
    seen: list[tuple[str, dict[str, str]]]

    def headers(self, path: str) -> list[dict[str, str]]:
        """Headers of the requests for ``path``."""
        return [h for p, h in self.seen if p == path]


def _recording_app(redirect_to: str | None) -> tuple[FastAPI, list[tuple[str, dict[str, str]]]]:
    app = FastAPI()
    seen: list[tuple[str, dict[str, str]]] = []

    @app.get("/{path:path}")
    async def any_path(path: str, request: Request) -> Response:
        seen.append(("/" + path, dict(request.headers)))
        if redirect_to is not None and path.startswith("start"):
            return Response(status_code=302, headers={"Location": redirect_to + "/landed"})
        return Response(CSV, media_type="text/csv")

    return app, seen


@pytest.fixture
def other() -> Iterator[Recorder]:
    """The second origin: same host, another port; it records what reaches it."""
    app, seen = _recording_app(None)
    with serve(app) as url:
        yield Recorder(url, seen)


@pytest.fixture
def bank(other: Recorder) -> Iterator[Recorder]:
    """The bank: ``/start...`` redirects to ``other``."""
    app, seen = _recording_app(other.url)
    with serve(app) as url:
        yield Recorder(url, seen)


@pytest.fixture
def settings(settings: Settings, other: Recorder, request: pytest.FixtureRequest) -> Settings:
    """Loopback allowlisted as a bare host; the other origin only when the test asks for it."""
    hosts = {"127.0.0.1"}
    if getattr(request, "param", None) == "allow-other":
        hosts.add(other.url.removeprefix("http://"))
    return settings.model_copy(update={"api_allow_hosts": frozenset(hosts)})


def _create(live: Live, bank: Recorder, **config: Any) -> str:
    body = {
        "name": "HDFC API",
        "type": "API",
        "provider": "HDFC",
        "config": {
            "baseUrl": bank.url,
            "endpoint": "/start",
            "authType": "bearer",
            "token": BEARER,
            "headers": {"X-Client-Secret": CLIENT_SECRET, "X-Client-Id": "merchant-42"},
            **config,
        },
    }
    answer = live.client("admin").post("/ops/connectors", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _run(live: Live, cid: str) -> dict[str, Any]:
    answer = live.client("operator").post(
        f"/ops/connectors/{cid}/run-now", json={"cycleDate": "2025-01-10"}
    )
    assert answer.status_code in (200, 202), answer.text
    run: dict[str, Any] = answer.json()
    return run


@pytest.mark.parametrize("settings", ["allow-other"], indirect=True)
def test_custom_headers_are_not_sent_to_another_origin(
    live: Live, bank: Recorder, other: Recorder
) -> None:
    cid = _create(live, bank)
    _run(live, cid)
    [first] = bank.headers("/start")
    assert (first["x-client-secret"], first["authorization"]) == (CLIENT_SECRET, f"Bearer {BEARER}")
    [landed] = other.headers("/landed")  # the other origin is allowlisted: followed, bare
    assert {"x-client-secret", "x-client-id", "authorization"} & set(landed) == set()


def test_an_allowed_host_is_not_followed_to_its_other_port(
    live: Live, bank: Recorder, other: Recorder
) -> None:
    cid = _create(live, bank)
    run = _run(live, cid)
    assert (run["status"], run["errorCode"]) == ("FAILED", "unsafe-target"), run
    assert other.seen == []


def test_headers_are_encrypted_masked_and_kept_by_the_mask(
    live: Live, bank: Recorder, other: Recorder
) -> None:
    cid = _create(live, bank, endpoint="/plain")
    admin, viewer = live.client("admin"), live.client("viewer")
    shown = viewer.get(f"/ops/connectors/{cid}").json()["config"]["headers"]
    assert shown == {"X-Client-Secret": "********", "X-Client-Id": "********"}
    # The edit form sends the masked values back: each keeps its stored value.
    patched = admin.patch(
        f"/ops/connectors/{cid}",
        json={"config": {"headers": {"X-Client-Secret": "********", "X-Extra": "new-one"}}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["config"]["headers"] == {
        "X-Client-Secret": "********",
        "X-Extra": "********",
    }
    _run(live, cid)
    [sent] = bank.headers("/plain")
    assert (sent["x-client-secret"], sent["x-extra"]) == (CLIENT_SECRET, "new-one")
    assert "x-client-id" not in sent
    unknown = admin.patch(
        f"/ops/connectors/{cid}", json={"config": {"headers": {"X-Nope": "********"}}}
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "config.headers.X-Nope"
    audit = admin.get("/ops/audit").text
    raw = _sqlite_bytes(live.settings.resolved_database_url)
    assert CLIENT_SECRET not in audit and "new-one" not in audit
    assert CLIENT_SECRET.encode() not in raw and b"new-one" not in raw


async def _plant_legacy_headers(settings: Settings, cid: str, headers: dict[str, str]) -> None:
    """Write headers into ``config`` in plaintext, as rows saved before this change have them."""
    ctx = AppContext.build(settings)
    try:
        async with ctx.sessions.begin() as session:
            row = await session.get(Connector, parse_id("connector", cid))
            assert row is not None
            secrets = ctx.secrets.decrypt(row.secrets)
            secrets.pop("headers", None)
            await session.execute(
                update(Connector)
                .where(Connector.id == row.id)
                .values(
                    config={**row.config, "headers": headers},
                    secrets=ctx.secrets.encrypt(secrets),
                )
            )
    finally:
        await ctx.close()


def test_legacy_plaintext_headers_are_masked_used_and_encrypted_on_save(
    live: Live, bank: Recorder, other: Recorder
) -> None:
    cid = _create(live, bank, endpoint="/legacy", headers=None)
    asyncio.run(_plant_legacy_headers(live.settings, cid, {"X-Client-Secret": CLIENT_SECRET}))
    view = live.client("viewer").get(f"/ops/connectors/{cid}")
    assert view.json()["config"]["headers"] == {"X-Client-Secret": "********"}
    assert CLIENT_SECRET not in view.text
    _run(live, cid)
    assert bank.headers("/legacy")[0]["x-client-secret"] == CLIENT_SECRET
    saved = live.client("admin").patch(f"/ops/connectors/{cid}", json={"config": {}})
    assert saved.status_code == 200, saved.text
    config, secrets = asyncio.run(_stored(live.settings, cid))
    assert "headers" not in config
    assert json.loads(secrets["headers"]) == {"X-Client-Secret": CLIENT_SECRET}
    _run(live, cid)
    assert bank.headers("/legacy")[-1]["x-client-secret"] == CLIENT_SECRET


async def _stored(settings: Settings, cid: str) -> tuple[dict[str, Any], dict[str, str]]:
    ctx = AppContext.build(settings)
    try:
        async with ctx.sessions() as session:
            row = await session.get(Connector, parse_id("connector", cid))
            assert row is not None
            return dict(row.config), ctx.secrets.decrypt(row.secrets)
    finally:
        await ctx.close()

"""After a demo-like session, no plaintext secret is anywhere an attacker or operator could read.

Looked for: the database (every row of every table, and the SQLite file's own bytes), the logs
(captured at DEBUG and rendered with the JSON formatter, as production writes them), every
problem response and every GET answer seen, and the audit log.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bankfeeds.access import users
from bankfeeds.core.config import Settings
from bankfeeds.core.logs import JsonFormatter
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Base
from tests.security.conftest import Live, Target

WRONG_SFTP_PASSWORD = "Wr0ng-S3cret-pass-7781"
PATCHED_PASSWORD = "Patched-S3cret-4410"
BEARER = "tok-S3cret-bearer-5521"
API_KEY = "key-S3cret-apikey-0077"
LOGIN_PASSWORD = "Hunter2-Login-Secret-991"
USER_PASSWORD = "correct horse battery staple"


async def _db_dump(settings: Settings) -> str:
    """Every row of every table, as text."""
    ctx = AppContext.build(settings)
    try:
        out = []
        async with ctx.engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                for row in (await conn.execute(select(table))).all():
                    out.append(repr(tuple(row)))
        return "\n".join(out)
    finally:
        await ctx.close()


async def _add_user(settings: Settings) -> None:
    ctx = AppContext.build(settings)
    try:
        await users.create_user(
            ctx=ctx, name="ada", role="admin", password=USER_PASSWORD, actor="t"
        )
    finally:
        await ctx.close()


def _sqlite_bytes(url: str) -> bytes:
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database:
        return b""
    base = Path(parsed.database)
    return b"".join(p.read_bytes() for p in (base, Path(f"{base}-wal")) if p.exists())


def _ui_login(client: httpx.Client, password: str) -> httpx.Response:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text)
    assert found is not None
    data = {"csrf_token": found.group(1), "username": "ada", "password": password}
    return client.post("/ui/login", data=data)


@pytest.mark.parametrize("target", ["sandbox"], indirect=True)
def test_no_plaintext_secret_anywhere(
    live: Live, target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    asyncio.run(_add_user(live.settings))
    data = b"TXNID,CREDIT_AMT,NET_CR_AMT,VALUE_DATE,UTR,RRN,AUTH,POST_DATE,BANK,STATUS,REMARKS\n"
    target.put("AXIS_RECON_20250110.csv", data)
    digest = hashlib.sha256(data).hexdigest()
    target.put("AXIS_RECON_20250110.csv.sha256", f"{digest}  AXIS_RECON_20250110.csv\n".encode())
    secrets = [
        target.password,
        WRONG_SFTP_PASSWORD,
        PATCHED_PASSWORD,
        BEARER,
        API_KEY,
        LOGIN_PASSWORD,
        USER_PASSWORD,
        *live.tokens.values(),
    ]
    seen: list[str] = []

    def keep(answer: httpx.Response) -> httpx.Response:
        seen.append(f"{answer.request.method} {answer.request.url} {answer.status_code}\n")
        seen.append(str(dict(answer.headers)) + answer.text)
        return answer

    admin, operator = live.client("admin"), live.client("operator")
    sftp = {
        "host": target.host,
        "port": target.port,
        "username": target.username,
        "password": target.password,
        "remotePath": target.remote_dir,
        "filePattern": "AXIS_RECON_YYYYMMDD*.csv",
        "checksumExt": ".sha256",
        "timezone": "Asia/Kolkata",
        "stableSeconds": 0,
        "hostKeyPolicy": "strict",
        "hostKeyFingerprint": target.fingerprint,
    }
    good = keep(
        admin.post(
            "/ops/connectors",
            json={"name": "AXIS", "type": "SFTP", "provider": "AXIS", "config": sftp},
        )
    )
    assert good.status_code == 201, good.text
    bad = keep(
        admin.post(
            "/ops/connectors",
            json={
                "name": "AXIS wrong",
                "type": "SFTP",
                "provider": "AXIS",
                "config": {**sftp, "password": WRONG_SFTP_PASSWORD},
            },
        )
    )
    assert bad.status_code == 201, bad.text
    api = keep(
        admin.post(
            "/ops/connectors",
            json={
                "name": "HDFC API",
                "type": "API",
                "provider": "HDFC",
                "config": {
                    "baseUrl": "https://bank.example",
                    "endpoint": "/files",
                    "authType": "bearer",
                    "token": BEARER,
                    "timezone": "Asia/Kolkata",
                },
            },
        )
    )
    assert api.status_code == 201, api.text
    # Refused bodies that carry secrets: the problem must not echo them.
    for refused in (
        {**sftp, "port": "not-a-port", "password": PATCHED_PASSWORD},
        {**sftp, "apiKey": API_KEY},
        {"baseUrl": "ftp://x", "authType": "apiKey", "apiKey": API_KEY, "token": BEARER},
    ):
        answer = keep(
            admin.post(
                "/ops/connectors",
                json={"name": "X", "type": "SFTP", "provider": "AXIS", "config": refused},
            )
        )
        assert answer.status_code in (400, 422), answer.text
    good_id, bad_id, api_id = good.json()["id"], bad.json()["id"], api.json()["id"]
    ran = keep(
        operator.post(f"/ops/connectors/{good_id}/run-now", json={"cycleDate": "2025-01-10"})
    )
    assert ran.status_code == 200 and ran.json()["filesDownloaded"] == 1, ran.text
    failed = keep(
        operator.post(f"/ops/connectors/{bad_id}/run-now", json={"cycleDate": "2025-01-10"})
    )
    assert failed.json()["errorCode"] == "authentication-failed", failed.text
    for cid in (good_id, bad_id, api_id):
        keep(operator.post(f"/ops/connectors/{cid}/test"))
    patched = keep(
        admin.patch(f"/ops/connectors/{bad_id}", json={"config": {"password": PATCHED_PASSWORD}})
    )
    assert patched.status_code == 200, patched.text
    keep(
        admin.patch(
            f"/ops/connectors/{api_id}", json={"config": {"authType": "apiKey", "apiKey": API_KEY}}
        )
    )
    ui = live.client(None)
    assert keep(_ui_login(ui, LOGIN_PASSWORD)).status_code == 401
    assert keep(_ui_login(ui, USER_PASSWORD)).status_code == 303
    for cid in (good_id, bad_id, api_id):
        keep(ui.get(f"/ui/connectors/{cid}/edit"))
        keep(ui.get(f"/ui/connectors/{cid}/history"))
    keep(ui.get("/ui"))
    for path in (
        "/ops/connectors",
        f"/ops/connectors/{good_id}",
        f"/ops/connectors/{bad_id}",
        f"/ops/connectors/{api_id}",
        f"/ops/connectors/{good_id}/runs",
        f"/ops/connectors/{bad_id}/runs",
        "/ops/audit",
        "/ops/tokens",
        "/ops/exceptions",
        "/ops/recon/jobs",
        "/metrics",
    ):
        assert keep(admin.get(path)).status_code == 200, path
    for run in (ran.json(), failed.json()):
        keep(admin.get(f"/ops/runs/{run['id']}"))
    audit: list[dict[str, Any]] = admin.get("/ops/audit").json()["entries"]
    assert {"connector.create", "connector.update"} <= {e["action"] for e in audit}

    formatter = JsonFormatter()
    logs = "\n".join(formatter.format(r) for r in caplog.records)
    places = {
        "database rows": asyncio.run(_db_dump(live.settings)),
        "logs": logs,
        "responses": "\n".join(seen),
        "audit": repr(audit),
    }
    raw = _sqlite_bytes(live.settings.resolved_database_url)
    leaks = [
        (secret, where) for secret in secrets for where, text in places.items() if secret in text
    ]
    leaks += [(secret, "database file") for secret in secrets if secret.encode() in raw]
    assert leaks == []
    assert "********" in "\n".join(seen) or "hasPassword" in "\n".join(seen)

"""Forged cursors and monstrous schedules get a 4xx naming the field, never a 500, and fast."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from datetime import UTC, date, datetime

import httpx
import pytest

from bankfeeds.access import users
from bankfeeds.core.config import Settings
from bankfeeds.core.errors import ValidationFailed
from bankfeeds.core.ids import decode_cursor, encode_cursor, public_id
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import IngestedFile, ReconJob
from tests.security.conftest import Live
from tests.support.bodies import spec_body, with_config


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


FORGED = {
    "2^63": _b64("after:9223372036854775808"),
    "bare 2^63": _b64("9223372036854775808"),
    "negative": _b64("after:-1"),
    "zero": _b64("after:0"),
    "leading zero": _b64("after:07"),
    # A URL has room for ~10^4 digits; decode_cursor itself is tried with 10^6 below.
    "ten thousand digits": _b64("after:" + "9" * 10_000),
    "twenty digits": _b64("after:" + "9" * 20),
    "garbage": "%%%not-base64%%%",
    "not utf-8": base64.urlsafe_b64encode(b"after:\xff\xfe").decode(),
}
PASSWORD = "correct horse battery"


def test_decode_cursor_refuses_a_million_digits_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor(_b64("after:" + "9" * 1_000_000))
    assert [e.field for e in caught.value.errors] == ["cursor"]
    assert time.monotonic() - started < 0.5
    assert decode_cursor(encode_cursor(2**63 - 1)) == 2**63 - 1


def _paged_operations(live: Live) -> list[str]:
    """Every GET in the OpenAPI document that takes a ``cursor`` query parameter."""
    spec = live.client(None).get("/openapi.json").json()
    return sorted(
        path
        for path, ops in spec["paths"].items()
        if any(p["name"] == "cursor" for p in ops.get("get", {}).get("parameters", []))
    )


def test_every_paged_api_route_refuses_a_forged_cursor_naming_it(live: Live) -> None:
    admin = live.client("admin")
    cid = admin.post("/ops/connectors", json=spec_body()).json()["id"]
    paths = [p.replace("{connector_id}", cid) for p in _paged_operations(live)]
    assert len(paths) == 5, paths  # connectors, runs, exceptions, recon jobs, audit
    wrong = []
    for path in paths:
        for what, cursor in FORGED.items():
            answer = admin.get(path, params={"cursor": cursor})
            fields = [e["field"] for e in answer.json().get("errors", [])]
            if answer.status_code != 422 or fields != ["cursor"]:
                wrong.append(f"{path} {what}: {answer.status_code} {fields}")
    assert wrong == []
    # A cursor the API handed out still works.
    for n in range(3):
        assert admin.post("/ops/connectors", json=spec_body(name=f"more {n}")).status_code == 201
    first = admin.get("/ops/connectors", params={"limit": 2}).json()
    after = admin.get("/ops/connectors", params={"limit": 2, "cursor": first["cursor"]})
    assert after.status_code == 200 and len(after.json()["connectors"]) == 2


async def _viewer(settings: Settings) -> None:
    ctx = AppContext.build(settings)
    try:
        await users.create_user(ctx=ctx, name="vic", role="viewer", password=PASSWORD, actor="t")
    finally:
        await ctx.close()


async def _recon_job(settings: Settings) -> str:
    """A finished recon job over two stored files, written straight to the database."""
    ctx = AppContext.build(settings)
    now = datetime.now(UTC)
    try:
        async with ctx.sessions.begin() as session:
            files = [
                IngestedFile(
                    connector_id=1, provider=provider, cycle_date=date(2025, 1, 10),
                    remote_name=f"{provider}.csv", remote_path=f"/{provider}.csv",
                    remote_size=1, sha256=str(n) * 64, size=1, status="NORMALIZED",
                    created_at=now, updated_at=now,
                )
                for n, provider in enumerate(("AXIS", "PG"))
            ]  # fmt: skip
            session.add_all(files)
            await session.flush()
            job = ReconJob(
                provider="AXIS", cycle_date=date(2025, 1, 10), bank_file_id=files[0].id,
                pg_file_id=files[1].id, status="DONE", inputs_key="0" * 64, created_at=now,
            )  # fmt: skip
            session.add(job)
            await session.flush()
            return public_id("job", job.id)
    finally:
        await ctx.close()


def _ui_client(live: Live) -> httpx.Client:
    asyncio.run(_viewer(live.settings))
    client = live.client(None)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text)
    assert csrf is not None
    data = {"csrf_token": csrf.group(1), "username": "vic", "password": PASSWORD}
    assert client.post("/ui/login", data=data).status_code == 303
    return client


def test_every_paged_ui_page_refuses_a_forged_cursor(live: Live) -> None:
    admin = live.client("admin")
    cid = admin.post("/ops/connectors", json=spec_body()).json()["id"]
    job_id = asyncio.run(_recon_job(live.settings))
    pages = [
        "/ui/exceptions",
        f"/ui/recon/jobs/{job_id}",
        f"/ui/connectors/{cid}/history",
    ]
    ui = _ui_client(live)
    wrong = []
    for page in pages:
        assert ui.get(page).status_code == 200, page
        for what, cursor in FORGED.items():
            for htmx in ({}, {"HX-Request": "true"}):
                answer = ui.get(page, params={"cursor": cursor}, headers=htmx)
                if answer.status_code != 422:
                    wrong.append(f"{page} {what} {htmx}: {answer.status_code}")
    assert wrong == []


BAD_SCHEDULES = {
    "900,000 digits": "9" * 900_000 + " * * * *",
    "100 KB": "0 " * 50_000,
    "100 KB of one field": "1," * 50_000 + "1 * * * *",
    "a huge value": "99999999999999999999 * * * *",
    "a huge step": "*/" + "9" * 5_000 + " * * * *",
    "a huge range end": "0-" + "9" * 4_400 + " * * * *",
    "too many fields": "* " * 200,
}


@pytest.mark.parametrize("what", sorted(BAD_SCHEDULES))
def test_a_monstrous_schedule_is_refused_naming_it_quickly(live: Live, what: str) -> None:
    admin = live.client("admin")
    schedule = BAD_SCHEDULES[what]
    started = time.monotonic()
    created = admin.post("/ops/connectors", json=with_config(schedule=schedule))
    cid = admin.post("/ops/connectors", json=spec_body(name="fine")).json()["id"]
    patched = admin.patch(f"/ops/connectors/{cid}", json={"config": {"schedule": schedule}})
    elapsed = time.monotonic() - started
    for answer in (created, patched):
        assert answer.status_code == 422, answer.text[:300]
        assert [e["field"] for e in answer.json()["errors"]] == ["config.schedule"]
        assert len(answer.text) < 2_000  # the 900 KB value is not echoed back
    assert elapsed < 5


def test_a_long_but_real_schedule_is_still_accepted(live: Live) -> None:
    """Every minute spelled out (a 178-character cron) is valid cron and stays so."""
    body = with_config(schedule=",".join(map(str, range(60))) + " * * * *")
    answer = live.client("admin").post("/ops/connectors", json=body)
    assert answer.status_code == 201, answer.text

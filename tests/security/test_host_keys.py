"""A host key that is unknown under ``strict`` or changed after pinning: zero bytes fetched.

Against the sandbox and OpenSSH, on SQLite and PostgreSQL. (tests/integration/sftp already
covers a key that differs from one pinned in the config; these add the strict policy without a
pin, a key that changes after accept-new pinned it on first contact, and the audit trail.)
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bankfeeds.access import audit
from bankfeeds.connectors.model import ConnectorCreate
from bankfeeds.core.ids import public_id
from bankfeeds.monitoring import connectors as monitored
from bankfeeds.pipeline import handoff
from bankfeeds.pipeline import run as ingest
from bankfeeds.scheduling import runs
from bankfeeds.scheduling import views as run_views
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import AuditLog, IngestedFile
from tests.security.conftest import Target
from tests.support.faultproxy import FaultProxy
from tests.support.pipeline import axis_file
from tests.support.targets import threaded_sandbox

DAY = date(2025, 1, 10)
NAME = "AXIS_RECON_20250110.csv"


def _publish(target: Target) -> None:
    data = axis_file()
    target.put(NAME, data)
    target.put(NAME + ".sha256", f"{hashlib.sha256(data).hexdigest()}  {NAME}\n".encode())


async def _connector(ctx: AppContext, target: Target, port: int, **cfg: Any) -> str:
    config = {
        "host": target.host, "port": port, "username": target.username,
        "password": target.password, "remotePath": target.remote_dir,
        "filePattern": "AXIS_RECON_YYYYMMDD*.csv", "checksumExt": ".sha256",
        "timezone": "Asia/Kolkata", "stableSeconds": 0, **cfg,
    }  # fmt: skip
    body = ConnectorCreate.model_validate(
        {"name": "AXIS", "type": "SFTP", "provider": "AXIS", "config": config}
    )
    view, _ = await handoff.create_connector(ctx=ctx, body=body, actor="test", idempotency_key=None)
    return str(view["id"])


async def _run(ctx: AppContext, connector_id: str) -> dict[str, Any]:
    run = await runs.start_run(
        ctx=ctx, connector_id=connector_id, cycle_date=DAY, trigger="MANUAL", force=True,
        actor="test", worker_id="w",
    )  # fmt: skip
    await ingest.execute(ctx, run.id, "w")
    return await run_views.get_run(ctx=ctx, run_id=public_id("run", run.id))


async def _files(ctx: AppContext) -> int:
    async with ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(IngestedFile)) or 0)


async def _refusals(ctx: AppContext, connector_id: str) -> list[dict[str, Any]]:
    entries = await audit.list_entries(ctx=ctx, target_id=connector_id, cursor=None, limit=100)
    return [e for e in entries["entries"] if "host-key" in e["action"] and "pin" not in e["action"]]


async def _assert_nothing_fetched(ctx: AppContext, run: dict[str, Any], code: str) -> None:
    assert run["status"] == "FAILED" and run["errorCode"] == code, run
    assert run["bytesDownloaded"] == 0 and run["filesDownloaded"] == 0
    assert await _files(ctx) == 0
    assert await ctx.store.list_keys() == []
    staging = ctx.settings.data_dir / "staging"
    assert not staging.exists() or not [p for p in staging.rglob("*") if p.is_file()]


async def test_strict_policy_with_no_pinned_key_fetches_nothing(
    ctx: AppContext, target: Target
) -> None:
    _publish(target)
    cid = await _connector(ctx, target, target.port, hostKeyPolicy="strict")
    run = await _run(ctx, cid)
    await _assert_nothing_fetched(ctx, run, "host-key-untrusted")
    assert target.fingerprint in run["error"]


async def test_key_changed_after_first_contact_pinned_it_fetches_nothing(
    ctx: AppContext, target: Target, tmp_path: Path
) -> None:
    _publish(target)
    async with FaultProxy(target.port) as proxy:
        cid = await _connector(ctx, target, proxy.port)  # accept-new
        first = await _run(ctx, cid)
        assert first["status"] == "SUCCESS", first
        pinned = await connectors_view(ctx, cid)
        assert pinned == target.fingerprint
        stored, objects = await _files(ctx), await ctx.store.list_keys()
        # The same address now answers with another server's key.
        with threaded_sandbox(tmp_path / "other", tmp_path / "other_key") as impostor:
            proxy.target_port = impostor.port
            second = await _run(ctx, cid)
        assert second["status"] == "FAILED" and second["errorCode"] == "host-key-mismatch"
        assert second["bytesDownloaded"] == 0 and second["filesDownloaded"] == 0
        assert impostor.fingerprint in second["error"]
        assert await _files(ctx) == stored and await ctx.store.list_keys() == objects
        assert await connectors_view(ctx, cid) == target.fingerprint  # the pin did not move


async def connectors_view(ctx: AppContext, connector_id: str) -> str | None:
    """The connector's pinned host key fingerprint."""
    view = await monitored.get_connector(ctx=ctx, connector_id=connector_id)
    return view["config"].get("hostKeyFingerprint")


async def test_a_refused_host_key_is_audited(ctx: AppContext, target: Target) -> None:
    _publish(target)
    cid = await _connector(ctx, target, target.port, hostKeyPolicy="strict")
    await _run(ctx, cid)
    refusals = await _refusals(ctx, cid)
    assert len(refusals) == 1
    assert refusals[0]["actor"] == "system"
    assert target.fingerprint in str(refusals[0]["diff"])
    async with ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(AuditLog)) >= 2

"""The demo's connectors follow the sandbox when a restarted demo listens somewhere else."""

from __future__ import annotations

from sqlalchemy import func, select

from bankfeeds.core.config import Settings
from bankfeeds.sandbox.demo import ensure_demo_connectors
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import AuditLog, Connector

FIRST_KEY = "SHA256:" + "A" * 43
OTHER_KEY = "SHA256:" + "B" * 43


async def _endpoints(ctx: AppContext) -> dict[str, tuple[object, ...]]:
    async with ctx.sessions() as session:
        rows = (await session.execute(select(Connector.name, Connector.config))).all()
    return {
        name: tuple(config.get(k) for k in ("host", "port", "hostKeyFingerprint", "baseUrl"))
        for name, config in rows
    }


async def _updates(ctx: AppContext) -> int:
    async with ctx.sessions() as session:
        count = await session.scalar(
            select(func.count()).where(AuditLog.action == "connector.update")
        )
    return int(count or 0)


async def test_a_restarted_demo_repoints_its_connectors_once(settings: Settings) -> None:
    # The demo's bank API is plain http on loopback, which the demo allowlists the same way.
    ctx = AppContext.build(settings.model_copy(update={"api_allow_hosts": {"127.0.0.1"}}))
    try:
        await _repoint(ctx)
    finally:
        await ctx.close()


async def _repoint(ctx: AppContext) -> None:
    first = await ensure_demo_connectors(
        ctx=ctx,
        host="127.0.0.1",
        port=2222,
        fingerprint=FIRST_KEY,
        bank_api_url="http://127.0.0.1:2280",
    )
    assert first == ["conn_1", "conn_2", "conn_3", "conn_4", "conn_5"]
    assert await _updates(ctx) == 0
    moved = await ensure_demo_connectors(
        ctx=ctx,
        host="127.0.0.1",
        port=40000,
        fingerprint=OTHER_KEY,
        bank_api_url="http://127.0.0.1:40001",
    )
    assert moved == first
    sftp = ("127.0.0.1", 40000, OTHER_KEY, None)
    assert await _endpoints(ctx) == {
        "AXIS Bank SFTP": sftp,
        "BOB Bank SFTP": sftp,
        "HDFC Bank SFTP": sftp,
        "ICICI Bank API": (None, None, None, "http://127.0.0.1:40001"),
        "PG transactions SFTP": sftp,
    }
    assert await _updates(ctx) == 5
    # Started again on the same ports: nothing to change, nothing audited.
    again = await ensure_demo_connectors(
        ctx=ctx,
        host="127.0.0.1",
        port=40000,
        fingerprint=OTHER_KEY,
        bank_api_url="http://127.0.0.1:40001",
    )
    assert again == first
    assert await _updates(ctx) == 5

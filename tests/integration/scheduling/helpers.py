"""Connectors and clocks for the scheduling tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from bankfeeds.connectors.model import ConnectorCreate
from bankfeeds.pipeline import handoff
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import Connector, ConnectorRun


async def add_connector(
    ctx: AppContext, name: str, *, created_at: datetime | None = None, **config: Any
) -> int:
    """Create an AXIS connector (unreachable by default) and return its primary key."""
    body = ConnectorCreate.model_validate(
        {
            "name": name,
            "type": "SFTP",
            "provider": "AXIS",
            "config": {
                "host": "127.0.0.1",
                "port": 9,
                "username": "bank",
                "password": "bankpass",
                "remotePath": "/upload",
                "schedule": "0 19 * * *",
                "timezone": "Asia/Kolkata",
                **config,
            },
        }
    )
    view, _ = await handoff.create_connector(ctx=ctx, body=body, actor="test", idempotency_key=None)
    pk = int(str(view["id"]).removeprefix("conn_"))
    if created_at is not None:
        async with ctx.sessions.begin() as session:
            await session.execute(
                update(Connector).where(Connector.id == pk).values(created_at=created_at)
            )
    return pk


async def runs_of(ctx: AppContext, connector_pk: int) -> list[ConnectorRun]:
    """A connector's runs in id order."""
    async with ctx.sessions() as session:
        return list(
            (
                await session.scalars(
                    select(ConnectorRun)
                    .where(ConnectorRun.connector_id == connector_pk)
                    .order_by(ConnectorRun.id)
                )
            ).all()
        )

"""Connector endpoints: thin wrappers over the connector services."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, ConfigDict

from bankfeeds.connectors import service as connectors
from bankfeeds.connectors.model import (
    ConnectorCreate,
    ConnectorPatch,
    ConnectorStatus,
    ConnectorType,
    Provider,
)
from bankfeeds.http.deps import Admin, Ctx, Operator, Viewer
from bankfeeds.monitoring import connectors as monitored
from bankfeeds.pipeline import handoff

router = APIRouter(prefix="/ops/connectors", tags=["connectors"])


class TrustHostKey(BaseModel):
    """Body of ``trust-host-key``."""

    model_config = ConfigDict(extra="forbid")
    fingerprint: str


@router.post("", status_code=201)
async def create_connector(
    body: ConnectorCreate,
    response: Response,
    ctx: Ctx,
    who: Admin,
    idempotency_key: Annotated[
        str | None, Header(alias="X-Idempotency-Key", max_length=200)
    ] = None,
) -> dict[str, Any]:
    """Create a connector (201), or replay an idempotent create (200)."""
    view, created = await handoff.create_connector(
        ctx=ctx, body=body, actor=who.name, idempotency_key=idempotency_key
    )
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"/ops/connectors/{view['id']}"
    return view


@router.get("")
async def list_connectors(
    ctx: Ctx,
    _: Viewer,
    status: ConnectorStatus | None = None,
    provider: Provider | None = None,
    type: ConnectorType | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """List connectors, filtered, a page at a time."""
    return await monitored.list_connectors(
        ctx=ctx,
        status=status.value if status else None,
        provider=provider.value if provider else None,
        ctype=type.value if type else None,
        q=q,
        cursor=cursor,
        limit=limit,
    )


@router.get("/{connector_id}")
async def get_connector(connector_id: str, ctx: Ctx, _: Viewer) -> dict[str, Any]:
    """One connector with its health and recent runs."""
    return await monitored.get_connector(ctx=ctx, connector_id=connector_id)


@router.patch("/{connector_id}")
async def update_connector(
    connector_id: str, body: ConnectorPatch, ctx: Ctx, who: Admin
) -> dict[str, Any]:
    """Change some of a connector's fields; secrets left out are kept."""
    return await handoff.update_connector(
        ctx=ctx, connector_id=connector_id, body=body, actor=who.name
    )


@router.delete("/{connector_id}", status_code=204)
async def delete_connector(connector_id: str, ctx: Ctx, who: Admin) -> Response:
    """Take a connector out of service."""
    await connectors.delete(ctx=ctx, connector_id=connector_id, actor=who.name)
    return Response(status_code=204)


@router.post("/{connector_id}/pause")
async def pause_connector(connector_id: str, ctx: Ctx, who: Operator) -> dict[str, Any]:
    """Stop scheduling a connector."""
    return await connectors.set_status(
        ctx=ctx, connector_id=connector_id, status=ConnectorStatus.PAUSED, actor=who.name
    )


@router.post("/{connector_id}/resume")
async def resume_connector(connector_id: str, ctx: Ctx, who: Operator) -> dict[str, Any]:
    """Schedule a paused connector again."""
    return await connectors.set_status(
        ctx=ctx, connector_id=connector_id, status=ConnectorStatus.ACTIVE, actor=who.name
    )


@router.post("/{connector_id}/trust-host-key")
async def trust_host_key(
    connector_id: str, body: TrustHostKey, ctx: Ctx, who: Admin
) -> dict[str, Any]:
    """Pin an SFTP server's host key fingerprint."""
    return await connectors.trust_host_key(
        ctx=ctx, connector_id=connector_id, fingerprint=body.fingerprint.strip(), actor=who.name
    )

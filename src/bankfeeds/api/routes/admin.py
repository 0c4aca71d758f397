"""Admin endpoints: API tokens and the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from bankfeeds.api.deps import context, require
from bankfeeds.domain.auth import Principal, Role
from bankfeeds.services import audit, tokens
from bankfeeds.services.context import AppContext

router = APIRouter(prefix="/ops", tags=["admin"])
Ctx = Annotated[AppContext, Depends(context)]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


class TokenCreate(BaseModel):
    """Body of ``POST /ops/tokens``."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=120)
    role: Role


@router.get("/audit")
async def list_audit(
    ctx: Ctx,
    _: Admin,
    target: Annotated[str | None, Query(max_length=60)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """The audit trail, newest first."""
    return await audit.list_entries(ctx=ctx, target_id=target, cursor=cursor, limit=limit)


@router.get("/tokens")
async def list_tokens(ctx: Ctx, _: Admin) -> dict[str, Any]:
    """Every API token's metadata."""
    return {"tokens": await tokens.list_tokens(ctx=ctx)}


@router.post("/tokens", status_code=201)
async def create_token(body: TokenCreate, ctx: Ctx, who: Admin) -> dict[str, Any]:
    """Create a token; the response is the only time it is shown."""
    token_id, token = await tokens.create_token(
        ctx=ctx, name=body.name, role=body.role.value, actor=who.name
    )
    return {"id": token_id, "name": body.name, "role": body.role.value, "token": token}


@router.delete("/tokens/{name}", status_code=204)
async def revoke_token(name: str, ctx: Ctx, who: Admin) -> Response:
    """Revoke a token by name."""
    await tokens.revoke_token(ctx=ctx, name=name, actor=who.name)
    return Response(status_code=204)

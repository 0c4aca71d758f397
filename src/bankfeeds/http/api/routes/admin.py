"""Admin endpoints: API tokens, web UI users and sessions, and the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from bankfeeds.access import audit, tokens, users
from bankfeeds.access.auth import Role
from bankfeeds.http.deps import Admin, Ctx

router = APIRouter(prefix="/ops", tags=["admin"])


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


# --- web UI users and their sessions -----------------------------------------------------------

UserName = Annotated[str, Path(min_length=1, max_length=120, description="The user's name.")]


class PasswordSet(BaseModel):
    """Body of ``POST /ops/users/{name}/password``."""

    model_config = ConfigDict(extra="forbid")
    password: str = Field(max_length=4096, description="At least 10 characters.")


@router.get("/users")
async def list_users(ctx: Ctx, _: Admin) -> dict[str, Any]:
    """Every web UI user: role, whether disabled, live sessions."""
    return {"users": await users.list_users(ctx=ctx)}


@router.post("/users/{name}/disable")
async def disable_user(name: UserName, ctx: Ctx, who: Admin) -> dict[str, Any]:
    """Disable a user: no more logins, and every session of theirs ends now."""
    return await users.disable_user(ctx=ctx, name=name, actor=who.name)


@router.post("/users/{name}/enable")
async def enable_user(name: UserName, ctx: Ctx, who: Admin) -> dict[str, Any]:
    """Let a disabled user log in again."""
    return await users.enable_user(ctx=ctx, name=name, actor=who.name)


@router.post("/users/{name}/password")
async def set_password(name: UserName, body: PasswordSet, ctx: Ctx, who: Admin) -> dict[str, Any]:
    """Set a user's password (422 when weak); every session of theirs ends now."""
    return await users.set_password(ctx=ctx, name=name, password=body.password, actor=who.name)


@router.delete("/users/{name}/sessions")
async def end_user_sessions(name: UserName, ctx: Ctx, who: Admin) -> dict[str, Any]:
    """End every web session of one user (they must log in again)."""
    return await users.end_sessions(ctx=ctx, name=name, actor=who.name)


@router.delete("/sessions")
async def end_all_sessions(ctx: Ctx, who: Admin) -> dict[str, Any]:
    """End every web session of every user and token."""
    return {"sessionsEnded": await users.end_all_sessions(ctx=ctx, actor=who.name)}

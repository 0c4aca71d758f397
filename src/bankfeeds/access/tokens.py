"""API tokens: random, shown once, stored as SHA-256, each with a role and a unique name."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from bankfeeds.access import audit, login_names
from bankfeeds.access.auth import Principal, Role
from bankfeeds.core.errors import NotFound, Unauthorized
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import ApiToken

TOKEN_PREFIX = "bf_"  # noqa: S105 - a marker that makes leaked tokens greppable
# Recording every use would turn each read into a write; once a minute is enough to see activity.
_TOUCH_EVERY = timedelta(minutes=1)


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def create_token(*, ctx: AppContext, name: str, role: str, actor: str) -> tuple[str, str]:
    """Create a token; returns ``(public id, token)``. The token is never retrievable again."""
    # Stored exactly as given (spaces at the ends are refused, not stripped), so the name the
    # response echoes is the one the audit log shows and `revoke` takes.
    name = login_names.checked(name)
    checked = login_names.checked_role(role)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = ctx.clock()
    row = ApiToken(
        name=name,
        role=checked.value,
        token_hash=hash_token(token),
        prefix=token[:8],
        created_at=now,
    )
    pk = await login_names.add_named(
        ctx, row, kind="token", actor=actor, diff={"name": name, "role": checked.value}
    )
    return f"tok_{pk}", token


async def authenticate(*, ctx: AppContext, token: str) -> Principal:
    """The principal a bearer token stands for; Unauthorized when unknown or revoked."""
    digest = hash_token(token)
    async with ctx.sessions() as session:
        row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
        if row is None or row.revoked_at is not None:
            raise Unauthorized("The API token is unknown or has been revoked.")
        now = ctx.clock()
        if row.last_used_at is None or now - row.last_used_at > _TOUCH_EVERY:
            await session.execute(
                update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now)
            )
            await session.commit()
        return Principal(name=row.name, role=Role(row.role))


async def list_tokens(*, ctx: AppContext) -> list[dict[str, Any]]:
    """Every token's metadata (never the token)."""
    async with ctx.sessions() as session:
        rows = (await session.scalars(select(ApiToken).order_by(ApiToken.id))).all()
    return [
        {
            "id": f"tok_{r.id}",
            "name": r.name,
            "role": r.role,
            "prefix": r.prefix,
            "createdAt": r.created_at.isoformat(),
            "lastUsedAt": r.last_used_at.isoformat() if r.last_used_at else None,
            "revoked": r.revoked_at is not None,
        }
        for r in rows
    ]


async def revoke_token(*, ctx: AppContext, name: str, actor: str) -> None:
    """Revoke the token called ``name``."""
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        result = await session.execute(
            update(ApiToken)
            .where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(ApiToken.id)
        )
        pk = result.scalar()
        if pk is None:
            raise NotFound(f"No active token named {name!r}.")
        audit.record(
            session,
            actor=actor,
            action="token.revoke",
            target_type="token",
            target_id=f"tok_{pk}",
            diff=None,
            now=now,
        )

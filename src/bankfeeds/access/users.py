"""Web UI users, managed from the CLI or the admin API; passwords kept only as scrypt hashes.

Changing a password or disabling a user ends every session of that user in the same transaction,
so a stolen cookie stops working at once. Every change is audited.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.access import audit, login_names
from bankfeeds.access.auth import Principal, Role
from bankfeeds.access.credentials import password_problem
from bankfeeds.core.errors import FieldError, NotFound, Unauthorized, ValidationFailed
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import User, WebSession

# scrypt cost: 2**14 blocks of 8 x 128 bytes (16 MiB), about 50 ms; OWASP's minimum is 2**13.
_N, _R, _P, _DKLEN = 2**14, 8, 1, 32
_BAD_LOGIN = "The user name or password is wrong."


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_DKLEN, maxmem=64 * 1024 * 1024
    )


def hash_password(password: str) -> str:
    """An encoded ``scrypt$n$r$p$salt$hash`` string with a fresh random salt."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _N, _R, _P)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` produces the stored hash (compared in constant time)."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))


# Checked against when the user does not exist, so timing does not reveal which names exist.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def _password(password: str, name: str) -> str:
    problem = password_problem(password, name)
    if problem is not None:
        raise ValidationFailed(errors=[FieldError("password", problem)])
    return password


async def create_user(*, ctx: AppContext, name: str, role: str, password: str, actor: str) -> str:
    """Create a user; returns its id (``user_<n>``)."""
    name = login_names.checked(name)
    checked = login_names.checked_role(role)
    now = ctx.clock()
    row = User(
        name=name,
        role=checked.value,
        password_hash=hash_password(_password(password, name)),
        created_at=now,
    )
    pk = await login_names.add_named(
        ctx, row, kind="user", actor=actor, diff={"name": name, "role": checked.value}
    )
    return f"user_{pk}"


async def authenticate(*, ctx: AppContext, name: str, password: str) -> tuple[int, Principal]:
    """The user's id and principal for a correct name and password; Unauthorized otherwise."""
    async with ctx.sessions() as session:
        row = await session.scalar(select(User).where(User.name == name.strip()))
        if row is None or row.disabled_at is not None:
            verify_password(password, _DUMMY_HASH)
            raise Unauthorized(_BAD_LOGIN)
        if not verify_password(password, row.password_hash):
            raise Unauthorized(_BAD_LOGIN)
        await session.execute(
            update(User).where(User.id == row.id).values(last_login_at=ctx.clock())
        )
        await session.commit()
        return row.id, Principal(name=row.name, role=Role(row.role))


def _view(row: User, sessions: int) -> dict[str, Any]:
    return {
        "id": f"user_{row.id}",
        "name": row.name,
        "role": row.role,
        "createdAt": row.created_at.isoformat(),
        "lastLoginAt": row.last_login_at.isoformat() if row.last_login_at else None,
        "disabled": row.disabled_at is not None,
        "activeSessions": sessions,
    }


async def list_users(*, ctx: AppContext) -> list[dict[str, Any]]:
    """Every user with whether it is disabled and how many live sessions it has."""
    async with ctx.sessions() as db:
        rows = (await db.scalars(select(User).order_by(User.id))).all()
        counts = await _live_sessions(db, ctx.clock())
    return [_view(r, counts.get(r.id, 0)) for r in rows]


async def _live_sessions(db: AsyncSession, now: datetime) -> dict[int, int]:
    found = await db.execute(
        select(WebSession.user_id, func.count())
        .where(
            WebSession.user_id.is_not(None),
            WebSession.revoked_at.is_(None),
            WebSession.expires_at > now,
        )
        .group_by(WebSession.user_id)
    )
    return {int(pk): int(n) for pk, n in found.all() if pk is not None}


async def _end_sessions(db: AsyncSession, user_pk: int | None, now: datetime) -> int:
    """Revoke the live sessions of one user (or of everyone) in the caller's transaction."""
    query = update(WebSession).where(WebSession.revoked_at.is_(None), WebSession.expires_at > now)
    if user_pk is not None:
        query = query.where(WebSession.user_id == user_pk)
    result = await db.execute(query.values(revoked_at=now).returning(WebSession.id))
    return len(result.scalars().all())


async def _change(
    ctx: AppContext,
    *,
    name: str,
    actor: str,
    action: str,
    values: dict[str, Any],
    diff: dict[str, Any],
    end: bool,
) -> dict[str, Any]:
    """Update user ``name`` with ``values``, ending its sessions if ``end``; audited as ``diff``."""
    now = ctx.clock()
    async with ctx.sessions.begin() as db:
        row = await db.scalar(select(User).where(User.name == name))
        if row is None:
            raise NotFound(f"No user named {name!r}.")
        if values:
            await db.execute(update(User).where(User.id == row.id).values(**values))
        ended = await _end_sessions(db, row.id, now) if end else 0
        audit.record(
            db,
            actor=actor,
            action=action,
            target_type="user",
            target_id=f"user_{row.id}",
            diff={**diff, "sessionsEnded": ended} if end else diff,
            now=now,
        )
        await db.refresh(row)
        live = 0 if end else (await _live_sessions(db, now)).get(row.id, 0)
        return {**_view(row, live), "sessionsEnded": ended}


async def disable_user(*, ctx: AppContext, name: str, actor: str) -> dict[str, Any]:
    """Disable a user: it cannot log in, and its sessions end now."""
    # A second disable keeps the first time, which says since when the user has been out.
    values = {"disabled_at": func.coalesce(User.disabled_at, ctx.clock())}
    diff = {"disabled": True}
    return await _change(
        ctx, name=name, actor=actor, action="user.disable", values=values, diff=diff, end=True
    )


async def enable_user(*, ctx: AppContext, name: str, actor: str) -> dict[str, Any]:
    """Let a disabled user log in again."""
    values = {"disabled_at": None}
    diff = {"disabled": False}
    return await _change(
        ctx, name=name, actor=actor, action="user.enable", values=values, diff=diff, end=False
    )


async def set_password(*, ctx: AppContext, name: str, password: str, actor: str) -> dict[str, Any]:
    """Replace a user's password (ValidationFailed when weak); its sessions end now."""
    values = {"password_hash": hash_password(_password(password, name))}
    diff = {"passwordChanged": True}
    return await _change(
        ctx, name=name, actor=actor, action="user.password", values=values, diff=diff, end=True
    )


async def end_sessions(*, ctx: AppContext, name: str, actor: str) -> dict[str, Any]:
    """End every session of user ``name``."""
    return await _change(
        ctx, name=name, actor=actor, action="user.sessions.end", values={}, diff={}, end=True
    )


async def end_all_sessions(*, ctx: AppContext, actor: str) -> int:
    """End every web session of every user and token; how many were live."""
    now = ctx.clock()
    async with ctx.sessions.begin() as db:
        ended = await _end_sessions(db, None, now)
        audit.record(
            db,
            actor=actor,
            action="sessions.end_all",
            target_type="session",
            target_id=None,
            diff={"sessionsEnded": ended},
            now=now,
        )
    return ended

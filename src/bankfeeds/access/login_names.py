"""Names held by users and API tokens: one namespace, so the audit actor names one login."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.access import audit
from bankfeeds.access.auth import Role
from bankfeeds.access.credentials import name_problem
from bankfeeds.core.errors import Conflict, FieldError, ValidationFailed
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import ApiToken, LoginName, User


def checked(name: str) -> str:
    """``name`` itself when it may name a user or token; ValidationFailed naming ``name`` if not."""
    problem = name_problem(name)
    if problem is not None:
        raise ValidationFailed(errors=[FieldError("name", problem)])
    return name


def checked_role(value: str) -> Role:
    """``value`` as a role; ValidationFailed naming ``role`` when it is none."""
    try:
        return Role(value)
    except ValueError as exc:
        allowed = ", ".join(r.value for r in Role)
        raise ValidationFailed(errors=[FieldError("role", f"must be one of {allowed}")]) from exc


def _taken(name: str, holder: str, kind: str) -> Conflict:
    if holder == kind:
        return Conflict(f"A {kind} named {name!r} already exists.")
    return Conflict(
        f"The name {name!r} is taken by a {holder}; users and tokens need different names so "
        "that the audit log names one of them."
    )


async def claim(db: AsyncSession, *, name: str, kind: str) -> None:
    """Register ``name`` for a new ``kind`` ("user" or "token") in the caller's transaction.

    Conflict when a user or token already holds it. The primary key decides; the read before it
    only chooses the message.
    """
    held = await db.get(LoginName, name)
    if held is not None:
        raise _taken(name, held.kind, kind)
    db.add(LoginName(name=name, kind=kind))
    try:
        await db.flush()
    except IntegrityError as exc:  # claimed by a concurrent request since the read
        raise _taken(name, kind, kind) from exc


async def add_named(
    ctx: AppContext,
    row: User | ApiToken,
    *,
    kind: Literal["user", "token"],
    actor: str,
    diff: dict[str, Any],
) -> int:
    """Insert a new user or token under its login name, audited; returns its primary key.

    Conflict when a user or token already holds the name.
    """
    prefix = "user" if kind == "user" else "tok"
    try:
        async with ctx.sessions.begin() as session:
            await claim(session, name=row.name, kind=kind)
            session.add(row)
            await session.flush()
            audit.record(
                session,
                actor=actor,
                action=f"{kind}.create",
                target_type=kind,
                target_id=f"{prefix}_{row.id}",
                diff=diff,
                now=row.created_at,
            )
    except IntegrityError as exc:
        raise Conflict(f"A {kind} named {row.name!r} already exists.") from exc
    return row.id

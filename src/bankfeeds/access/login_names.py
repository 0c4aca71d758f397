"""Names held by users and API tokens: one namespace, so the audit actor names one login."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.access.credentials import name_problem
from bankfeeds.core.errors import Conflict, FieldError, ValidationFailed
from bankfeeds.storage.db.models import LoginName


def checked(name: str) -> str:
    """``name`` itself when it may name a user or token; ValidationFailed naming ``name`` if not."""
    problem = name_problem(name)
    if problem is not None:
        raise ValidationFailed(errors=[FieldError("name", problem)])
    return name


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

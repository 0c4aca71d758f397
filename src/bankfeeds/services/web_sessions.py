"""Web UI sessions: an HMAC-signed cookie naming the login, re-checked against the database.

The cookie carries only who logged in (a user or an API token), when it expires and the session's
CSRF token; every request looks the login up again, so a revoked token or disabled user loses
access at once rather than when the cookie expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select

from bankfeeds.adapters.db.models import ApiToken
from bankfeeds.domain.auth import Principal, Role
from bankfeeds.errors import Unauthorized
from bankfeeds.services import tokens, users
from bankfeeds.services.context import AppContext

LIFETIME_SECONDS = 12 * 3600
_PURPOSE = b"bankfeeds web session v1"


@dataclass(frozen=True, slots=True)
class WebSession:
    """What a valid session cookie says."""

    subject: str  # "user:<pk>" or "token:<pk>"
    csrf: str
    expires: int


def _keys(ctx: AppContext) -> list[bytes]:
    # Derived from the secrets key, so one configured key serves both and rotates together.
    return [
        hmac.new(k.encode(), _PURPOSE, hashlib.sha256).digest() for k in ctx.settings.secret_keys
    ]


def _sign(key: bytes, payload: bytes) -> str:
    mac = hmac.new(key, payload, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def issue(ctx: AppContext, subject: str) -> tuple[str, WebSession]:
    """A new session for ``subject``: the cookie value and what it holds."""
    session = WebSession(subject, secrets.token_urlsafe(32), int(time.time()) + LIFETIME_SECONDS)
    raw = json.dumps({"sub": session.subject, "csrf": session.csrf, "exp": session.expires})
    payload = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    return f"{payload}.{_sign(_keys(ctx)[0], payload.encode())}", session


def read(ctx: AppContext, cookie: str | None) -> WebSession | None:
    """The session a cookie holds, or None when it is missing, forged or expired."""
    if not cookie or "." not in cookie:
        return None
    payload, _, mac = cookie.rpartition(".")
    if not any(hmac.compare_digest(_sign(k, payload.encode()), mac) for k in _keys(ctx)):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        session = WebSession(str(data["sub"]), str(data["csrf"]), int(data["exp"]))
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires > time.time() else None


async def login_with_password(*, ctx: AppContext, name: str, password: str) -> str:
    """The session subject for a user name and password; Unauthorized when wrong."""
    pk, _ = await users.authenticate(ctx=ctx, name=name, password=password)
    return f"user:{pk}"


async def login_with_token(*, ctx: AppContext, token: str) -> str:
    """The session subject for an API token; Unauthorized when unknown or revoked."""
    await tokens.authenticate(ctx=ctx, token=token.strip())
    async with ctx.sessions() as session:
        pk = await session.scalar(
            select(ApiToken.id).where(ApiToken.token_hash == tokens.hash_token(token.strip()))
        )
    return f"token:{pk}"


async def principal(*, ctx: AppContext, session: WebSession) -> Principal:
    """Who the session stands for now; Unauthorized when that login no longer works."""
    kind, _, raw = session.subject.partition(":")
    found: Principal | None = None
    if kind == "user" and raw.isdigit():
        found = await users.principal_of(ctx=ctx, user_pk=int(raw))
    elif kind == "token" and raw.isdigit():
        async with ctx.sessions() as db:
            row = await db.get(ApiToken, int(raw))
        if row is not None and row.revoked_at is None:
            found = Principal(name=row.name, role=Role(row.role))
    if found is None:
        raise Unauthorized("Your session has ended; log in again.")
    return found

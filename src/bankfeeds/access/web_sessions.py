"""Web UI sessions: a random id in a signed cookie, the session itself in the database.

The cookie carries the session id (256 random bits), the session's CSRF token and when it was
signed (itsdangerous, HMAC-SHA256, timed by the context's clock); the
database keeps only the id's SHA-256, who logged in (a user or an API token), and when the
session was made, last seen, expires and was revoked. Every request looks the session and its
login up again, so logging out, changing a password, disabling a user, revoking a token or an
admin's bulk revocation ends a session at once, not when its cookie expires.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bankfeeds.access import login_throttle, tokens, users
from bankfeeds.access.auth import Principal, Role
from bankfeeds.core.errors import Unauthorized
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import ApiToken, User
from bankfeeds.storage.db.models import WebSession as SessionRow

LIFETIME_SECONDS = 12 * 3600
# A new salt for the itsdangerous format: cookies of the old hand-signed format are refused.
_PURPOSE = b"bankfeeds web session v3"
# Recording every request would turn each page view into a write; once a minute shows activity.
_TOUCH_EVERY = timedelta(minutes=1)
# Ended sessions are kept a day (who was logged in when), then removed as new ones start.
_KEEP_ENDED = timedelta(days=1)
_ENDED = "Your session has ended; log in again."


@dataclass(frozen=True, slots=True)
class WebSession:
    """What a valid session cookie says: which session, its CSRF token and its expiry."""

    sid: str
    csrf: str
    expires: int


class _ClockedSigner(TimestampSigner):
    """itsdangerous' timed signer reading the time from an injected clock, not ``time.time()``."""

    def __init__(self, *args: Any, clock: Callable[[], datetime], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        """The clock's time, in whole seconds since the epoch."""
        return int(self._clock().timestamp())


def _serializer(keys: list[str], clock: Callable[[], datetime]) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key and accepts any; settings list the newest first.
    # "hmac" derivation keys HMAC(configured key, salt), so the Fernet keys that encrypt the
    # connector secrets are never used as MAC keys themselves.
    return URLSafeTimedSerializer(
        list(reversed(keys)),
        salt=_PURPOSE,
        signer=_ClockedSigner,
        signer_kwargs={
            "clock": clock,
            "key_derivation": "hmac",
            "digest_method": hashlib.sha256,
        },
    )


def hash_sid(sid: str) -> str:
    """The stored form of a session id."""
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


def issue(ctx: AppContext, sid: str) -> tuple[str, WebSession]:
    """A signed cookie for session ``sid`` with a fresh CSRF token: the value and what it holds."""
    now = ctx.clock()  # read once: the signed time and the expiry returned are the same instant
    csrf = secrets.token_urlsafe(32)
    cookie = _serializer(ctx.settings.secret_keys, lambda: now).dumps({"sid": sid, "csrf": csrf})
    return cookie, WebSession(sid, csrf, int(now.timestamp()) + LIFETIME_SECONDS)


def read(ctx: AppContext, cookie: str | None) -> WebSession | None:
    """The session a cookie names, or None when it is missing, forged or expired."""
    if not cookie:
        return None
    try:
        data, signed = _serializer(ctx.settings.secret_keys, ctx.clock).loads(
            cookie, max_age=LIFETIME_SECONDS, return_timestamp=True
        )
    except BadData:  # forged, expired (by the clock), signed in the future, or not our payload
        return None
    if not isinstance(data, dict):
        return None
    sid, csrf = data.get("sid"), data.get("csrf")
    if not isinstance(sid, str) or not isinstance(csrf, str):
        return None
    return WebSession(sid, csrf, int(signed.timestamp()) + LIFETIME_SECONDS)


async def _start(ctx: AppContext, *, user_pk: int | None, token_pk: int | None) -> str:
    """Record a new session for a user or a token; returns its signed cookie."""
    sid = secrets.token_urlsafe(32)  # 256 bits
    cookie, _ = issue(ctx, sid)
    now = ctx.clock()
    async with ctx.sessions.begin() as db:
        await db.execute(delete(SessionRow).where(SessionRow.expires_at < now - _KEEP_ENDED))
        db.add(
            SessionRow(
                id_hash=hash_sid(sid),
                user_id=user_pk,
                token_id=token_pk,
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(seconds=LIFETIME_SECONDS),
            )
        )
    return cookie


async def login_with_password(*, ctx: AppContext, name: str, password: str, address: str) -> str:
    """A new session's cookie for a user name and password tried from ``address``.

    Unauthorized when wrong; TooManyFailures while this name and address (or the address) must
    wait after earlier failures, without the password being checked.
    """
    await login_throttle.check(ctx=ctx, user=name, address=address)
    try:
        pk, _ = await users.authenticate(ctx=ctx, name=name, password=password)
    except Unauthorized:
        await login_throttle.failed(ctx=ctx, user=name, address=address)
        raise
    await login_throttle.succeeded(ctx=ctx, user=name, address=address)
    return await _start(ctx, user_pk=pk, token_pk=None)


async def login_with_token(*, ctx: AppContext, token: str) -> str:
    """A new session's cookie for an API token; Unauthorized when unknown or revoked.

    Never throttled: a 256-bit token cannot be guessed, and password failures from the same
    address must not lock its holder out.
    """
    await tokens.authenticate(ctx=ctx, token=token.strip())
    async with ctx.sessions() as db:
        pk = await db.scalar(
            select(ApiToken.id).where(ApiToken.token_hash == tokens.hash_token(token.strip()))
        )
    if pk is None:  # revoked and deleted between the two reads
        raise Unauthorized("The API token is unknown or has been revoked.")
    return await _start(ctx, user_pk=None, token_pk=pk)


async def _login_of(db: AsyncSession, row: SessionRow) -> Principal | None:
    if row.user_id is not None:
        user = await db.get(User, row.user_id)
        if user is not None and user.disabled_at is None:
            return Principal(name=user.name, role=Role(user.role))
    elif row.token_id is not None:
        token = await db.get(ApiToken, row.token_id)
        if token is not None and token.revoked_at is None:
            return Principal(name=token.name, role=Role(token.role))
    return None


async def principal(*, ctx: AppContext, session: WebSession) -> Principal:
    """Who the session stands for now; Unauthorized when it or its login no longer works."""
    now = ctx.clock()
    async with ctx.sessions() as db:
        row = await db.scalar(select(SessionRow).where(SessionRow.id_hash == hash_sid(session.sid)))
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            raise Unauthorized(_ENDED)
        found = await _login_of(db, row)
        if found is None:
            raise Unauthorized(_ENDED)
        if now - row.last_seen_at > _TOUCH_EVERY:
            await db.execute(
                update(SessionRow).where(SessionRow.id == row.id).values(last_seen_at=now)
            )
            await db.commit()
    return found


async def end(*, ctx: AppContext, session: WebSession) -> None:
    """Revoke one session (logging out)."""
    now = ctx.clock()
    async with ctx.sessions.begin() as db:
        await db.execute(
            update(SessionRow)
            .where(SessionRow.id_hash == hash_sid(session.sid), SessionRow.revoked_at.is_(None))
            .values(revoked_at=now)
        )

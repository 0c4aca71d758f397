"""Login throttling that slows a guesser down without locking anyone out.

Failed password logins are counted per (user name, client address) and, with a much higher
allowance, per client address; past the free failures each one doubles the wait before the next
try (access/throttle.py). No account is ever locked: an attacker's failures for a user from one
address do not delay that user logging in from another, and API-token logins are never
throttled, since a 256-bit token cannot be guessed and throttling it would only let anyone
block the robots. While a key must wait every attempt is refused without checking the password,
so the answer never tells a guesser they found it.

The counts live in the database, so every process behind a load balancer sees the same ones. The
client address is the one web/security.py derives (behind trusted proxies, from
X-Forwarded-For).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, or_, select
from sqlalchemy.exc import IntegrityError

from bankfeeds.access import throttle
from bankfeeds.access.throttle import Backoff
from bankfeeds.core.errors import TooManyFailures
from bankfeeds.storage.context import AppContext
from bankfeeds.storage.db.models import LoginFailure

#: The ``user_key`` of an address's own count (a hash is never empty).
ANY_USER = ""


def user_key(name: str) -> str:
    """The stored key of a typed user name: case-folded, then hashed."""
    # Case-folded: "Ada" and "ada " must share a count whatever the user table compares.
    return hashlib.sha256(name.strip().casefold().encode("utf-8")).hexdigest()


def _keys(user: str | None, address: str) -> list[tuple[str, Backoff]]:
    keys = [(ANY_USER, throttle.PER_ADDRESS)]
    if user and user.strip():
        keys.append((user_key(user), throttle.PER_USER_ADDRESS))
    return keys


def _matching(user: str | None, address: str) -> ColumnElement[bool]:
    return or_(
        *(
            and_(LoginFailure.user_key == key, LoginFailure.address == address)
            for key, _ in _keys(user, address)
        )
    )


async def retry_after(*, ctx: AppContext, user: str | None, address: str) -> int | None:
    """Seconds until a password login for ``user`` from ``address`` may be tried, or None."""
    now = ctx.clock()
    async with ctx.sessions() as db:
        rows = (await db.scalars(select(LoginFailure).where(_matching(user, address)))).all()
    waits = [w for r in rows if (w := throttle.retry_after(r.next_allowed_at, now)) is not None]
    return max(waits) if waits else None


async def check(*, ctx: AppContext, user: str | None, address: str) -> None:
    """Raise TooManyFailures while a password login for ``user`` from ``address`` must wait."""
    wait = await retry_after(ctx=ctx, user=user, address=address)
    if wait is not None:
        raise TooManyFailures(wait)


async def failed(*, ctx: AppContext, user: str | None, address: str) -> None:
    """Count a failed password login for ``user`` from ``address``."""
    now = ctx.clock()
    for attempt in range(2):
        try:
            await _count(ctx, user, address, now)
            return
        except IntegrityError:
            # Another process inserted the same key first; the second pass counts on its row.
            if attempt:
                raise


async def _count(ctx: AppContext, user: str | None, address: str, now: datetime) -> None:
    oldest = max(throttle.PER_ADDRESS.forget, throttle.PER_USER_ADDRESS.forget)
    async with ctx.sessions.begin() as db:
        # Forgotten counts are removed as new ones come, so sprayed names cannot grow the table.
        await db.execute(delete(LoginFailure).where(LoginFailure.last_failed_at < now - oldest))
        for key, rule in _keys(user, address):
            row = await db.scalar(
                select(LoginFailure)
                .where(LoginFailure.user_key == key, LoginFailure.address == address)
                .with_for_update()
            )
            if row is None:
                row = LoginFailure(user_key=key, address=address, failures=0)
                db.add(row)
                last = None
            else:
                last = row.last_failed_at
            row.failures = throttle.failures_after(row.failures, last, rule, now)
            row.last_failed_at = now
            row.next_allowed_at = now + rule.wait(row.failures)


async def succeeded(*, ctx: AppContext, user: str, address: str) -> None:
    """Clear the (user, address) count after a successful login."""
    # The address's own count stays, or one working login could reset it between guesses.
    async with ctx.sessions.begin() as db:
        await db.execute(
            delete(LoginFailure).where(
                LoginFailure.user_key == user_key(user), LoginFailure.address == address
            )
        )

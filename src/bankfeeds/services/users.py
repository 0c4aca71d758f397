"""Web UI users: created from the CLI, passwords kept only as salted scrypt hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bankfeeds.adapters.db.models import User
from bankfeeds.domain.auth import Principal, Role
from bankfeeds.errors import Conflict, FieldError, Unauthorized, ValidationFailed
from bankfeeds.services import audit
from bankfeeds.services.context import AppContext

# scrypt cost: 2**14 blocks of 8 x 128 bytes (16 MiB), about 50 ms; OWASP's minimum is 2**13.
_N, _R, _P, _DKLEN = 2**14, 8, 1, 32
MIN_PASSWORD = 10
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


def _checked(name: str, role: str, password: str) -> tuple[str, Role]:
    errors = []
    name = name.strip()
    if not 1 <= len(name) <= 120:
        errors.append(FieldError("name", "must be 1 to 120 characters"))
    if len(password) < MIN_PASSWORD:
        errors.append(FieldError("password", f"must be at least {MIN_PASSWORD} characters"))
    try:
        checked = Role(role)
    except ValueError:
        errors.append(FieldError("role", "must be one of " + ", ".join(r.value for r in Role)))
    if errors:
        raise ValidationFailed(errors=errors)
    return name, checked


async def create_user(*, ctx: AppContext, name: str, role: str, password: str, actor: str) -> str:
    """Create a user; returns its id (``user_<n>``)."""
    name, checked = _checked(name, role, password)
    now = ctx.clock()
    row = User(name=name, role=checked.value, password_hash=hash_password(password), created_at=now)
    try:
        async with ctx.sessions.begin() as session:
            session.add(row)
            await session.flush()
            audit.record(
                session,
                actor=actor,
                action="user.create",
                target_type="user",
                target_id=f"user_{row.id}",
                diff={"name": name, "role": checked.value},
                now=now,
            )
    except IntegrityError as exc:
        raise Conflict(f"A user named {name!r} already exists.") from exc
    return f"user_{row.id}"


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


async def principal_of(*, ctx: AppContext, user_pk: int) -> Principal | None:
    """The principal of an enabled user, or None."""
    async with ctx.sessions() as session:
        row = await session.get(User, user_pk)
    if row is None or row.disabled_at is not None:
        return None
    return Principal(name=row.name, role=Role(row.role))

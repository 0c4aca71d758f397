"""Request dependencies: the app context and who is calling, with what role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from bankfeeds.access import tokens
from bankfeeds.access.auth import Principal, Role
from bankfeeds.core.errors import Forbidden, Unauthorized
from bankfeeds.storage.context import AppContext


def context(request: Request) -> AppContext:
    """The process-wide application context."""
    ctx = request.app.state.ctx
    assert isinstance(ctx, AppContext)
    return ctx


async def principal(request: Request) -> Principal:
    """Authenticate the bearer token in the Authorization header."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send an API token as 'Authorization: Bearer <token>'.")
    return await tokens.authenticate(ctx=context(request), token=token.strip())


def require(role: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that admits callers whose role includes ``role``."""

    async def check(request: Request) -> Principal:
        who = await principal(request)
        if not who.role.allows(role):
            raise Forbidden(
                f"This action needs the {role.value} role; token {who.name!r} has {who.role.value}."
            )
        return who

    return check


#: The dependencies every API route declares: the context, and the caller holding a role.
Ctx = Annotated[AppContext, Depends(context)]
Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
